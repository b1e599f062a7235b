"""Every single-bug mutant loses points only in its own items; every variant keeps 35/35.

All mutants and variants are graded in one batch run of `grade --results-dir` (two at a
time), then each is checked on its own.
"""

import json

import pytest
from conftest import REFERENCE
from mutants import MUTANTS, VARIANTS, apply

from grader import cli

CASES = MUTANTS + VARIANTS


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Item scores of every mutant and variant, by name: {name: {item id: (score, max)}}."""
    root = tmp_path_factory.mktemp("mutants")
    folders = [apply(mutant, REFERENCE, root / "submissions" / mutant.name) for mutant in CASES]
    results = root / "results"

    code = cli.main([*map(str, folders), "--results-dir", str(results), "--jobs", "2"])

    assert code == 0
    scores = {}
    for path in results.glob("*.json"):
        data = json.loads(path.read_text())
        scores[path.stem] = {
            test["number"]: (test["score"], test["max_score"], test["output"])
            for test in data["tests"]
        }
    return scores


def _lost(scores: dict) -> set[str]:
    return {item for item, (score, maximum, _) in scores.items() if score < maximum}


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda mutant: mutant.name)
def test_mutant_loses_points_only_in_its_own_items(graded, mutant):
    scores = graded[_file_name(mutant.name)]

    assert _lost(scores) == set(mutant.loses), _explain(scores)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda variant: variant.name)
def test_representation_variant_keeps_full_marks(graded, variant):
    scores = graded[_file_name(variant.name)]

    assert _lost(scores) == set(), _explain(scores)


def _file_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _explain(scores: dict) -> str:
    return "\n".join(
        f"{item}: {score}/{maximum}\n{output}"
        for item, (score, maximum, output) in scores.items()
        if score < maximum
    )
