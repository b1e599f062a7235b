"""The course's original testerData.npz: the grader reads it, and the reference passes the
Linear checks on it (expectations from the torch oracle)."""

import shutil

import numpy as np
import pytest
from conftest import REFERENCE, REPO

from grader import fixtures, oracle

COURSE_FILE = REPO.parent / "shared" / "fixtures" / "testerData.npz"


@pytest.mark.skipif(not COURSE_FILE.is_file(), reason="the course's original file is absent")
def test_reference_passes_linear_checks_on_the_course_file(grade, tmp_path):
    with np.load(COURSE_FILE, allow_pickle=False) as data:
        W, b, X, Y, dLdZ = (data[name] for name in data.files)
    course_fixtures = tmp_path / "fixtures"
    shutil.copytree(fixtures.default_fixtures_dir(), course_fixtures)
    inputs = {"X": X, "W": W, "b": b.reshape(-1), "dLdZ": dLdZ}
    case = {**inputs, **oracle.linear(**inputs)}
    arrays = {f"course/{name}": array for name, array in case.items()}
    (course_fixtures / "linear.npz").write_bytes(fixtures.npz_bytes(arrays))

    graded = grade(REFERENCE, "--fixtures", str(course_fixtures))

    assert {item: graded.scores[item] for item in ("1a", "1b", "1c")} == {
        "1a": 1,
        "1b": 2,
        "1c": 4,
    }
    assert graded.outputs["1b"].startswith("1 of 1 checks passed")
