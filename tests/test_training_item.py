"""Item 6, the informational training run: agreement with torch on the reference, a clear
departure on a submission whose loss gradient is wrong, and no points either way."""

import re

from conftest import REFERENCE, REPO


def _item6(graded) -> dict:
    return next(test for test in graded.data["tests"] if test["number"] == "6")


def test_reference_training_agrees_with_torch(grade):
    item = _item6(grade(REFERENCE))

    assert (item["status"], item["max_score"]) == ("passed", 0)
    assert re.search(r"accuracy (\d+)% \(torch \1%\)", item["output"])


def test_wrong_loss_gradient_departs_from_torch_and_costs_nothing(grade):
    graded = grade(REPO / "examples" / "submission")
    item = _item6(graded)

    assert item["status"] == "failed" and item["score"] == 0
    assert "departs from torch's at step" in item["output"]
