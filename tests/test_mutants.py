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


DIAGNOSED = {
    "dLdW-transposed": ("1c", "the values are right but transposed"),
    "backward-returns-nothing": ("1c", "returned None instead of an array"),
    "mse-forward-modifies-O-in-place": ("2b", "modified its input array in place"),
    "mse-backward-without-2": ("2b", "constant factor 1/2"),
    "mse-mean-over-N-only": ("2a", "constant factor N"),
    "ce-backward-not-over-N": ("2d", "constant factor N"),
    "ce-forward-without-max-shift": ("2c", "NaN or inf"),
    "sgd-ascends-W": ("3", "the step has the wrong sign"),
    "sgd-ignores-lr": ("3", "ignores the learning rate"),
    "relu-forward-abs": ("4c", "correct only where H > 0"),
    "tanh-derivative-not-squared": ("4b", "the derivative of tanh is 1 - A^2"),
    "sigmoid-forward-of-minus-H": ("4a", "your A is sigmoid(-H)"),
    "relu-derivative-ones": ("4c", "correct only where H > 0"),
    "init-W-std-0.01": ("1a", "you used 0.01 as the standard deviation"),
    "mlp1-hidden-identity": ("5b", "f[0] is identity, expected relu"),
    "mlp4-three-hidden-layers": ("5c", "self.layers holds 4 layers, expected 5"),
    "mlp-backward-skips-activation-derivative": ("5b", "without the f[0].backward() factor"),
}


@pytest.mark.parametrize("name", DIAGNOSED)
def test_mutant_feedback_names_the_likely_cause(graded, name):
    item, phrase = DIAGNOSED[name]

    assert phrase in graded[_file_name(name)][item][2]


def test_variants_get_no_failure_text_at_all(graded):
    outputs = [graded[_file_name(variant.name)][item][2] for variant in VARIANTS for item in RUBRIC]

    assert not any("likely cause" in output or "\n- " in output for output in outputs)


RUBRIC = ("1a", "1b", "1c", "2a", "2b", "2c", "2d", "3", "4a", "4b", "4c", "5a", "5b", "5c")
