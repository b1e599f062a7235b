"""The mutants and variants of tests/mutants.py still fit the reference they are made from."""

import py_compile
import tomllib
from pathlib import Path

import pytest
from mutants import MUTANTS, RUBRIC_ITEMS, VARIANTS, Edit, Mutant, apply

REPO_ROOT = Path(__file__).resolve().parent.parent
REFERENCE_DIR = REPO_ROOT / "reference"
EVERY_CHANGE = MUTANTS + VARIANTS


@pytest.mark.parametrize("mutant", EVERY_CHANGE, ids=[m.name for m in EVERY_CHANGE])
def test_applies_to_the_reference_and_compiles(mutant, tmp_path):
    root = apply(mutant, REFERENCE_DIR, tmp_path / "submission")

    for path in sorted(root.rglob("*.py")):
        py_compile.compile(str(path), cfile=str(tmp_path / "compiled.pyc"), doraise=True)


def test_names_are_unique():
    names = [mutant.name for mutant in EVERY_CHANGE]

    assert len(names) == len(set(names)), "duplicate mutant or variant names"


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_loses_some_but_not_all_rubric_items(mutant):
    assert mutant.loses and mutant.loses < RUBRIC_ITEMS, f"loses {sorted(mutant.loses)}"


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_variant_loses_nothing(variant):
    assert variant.loses == frozenset()


def test_rubric_items_are_the_scored_items_of_the_rubric():
    rubric = tomllib.loads((REPO_ROOT / "grader/rubric.toml").read_text(encoding="utf-8"))

    assert RUBRIC_ITEMS == {item["id"] for item in rubric["items"] if item["points"] > 0}


@pytest.mark.parametrize("old", ["not in the file", "self."], ids=["missing", "repeated"])
def test_apply_refuses_an_edit_that_does_not_match_exactly_once(old, tmp_path):
    broken = Mutant("broken", (Edit("mytorch/nn/linear.py", old, ""),), frozenset(), "")

    with pytest.raises(ValueError, match="expected exactly once"):
        apply(broken, REFERENCE_DIR, tmp_path / "submission")
