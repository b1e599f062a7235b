"""Shared helpers for the project's tests: grade a folder through the CLI, read its results."""

import json
from pathlib import Path

import pytest

from grader import cli

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "reference"
TEMPLATE = REPO / "student_template"


class Graded:
    """A results.json written by `grade`, with the scores by item id."""

    def __init__(self, path: Path, exit_code: int, stdout: str):
        self.exit_code = exit_code
        self.stdout = stdout
        self.data = json.loads(path.read_text())
        self.scores = {test["number"]: test["score"] for test in self.data["tests"]}
        self.max_scores = {test["number"]: test["max_score"] for test in self.data["tests"]}
        self.outputs = {test["number"]: test["output"] for test in self.data["tests"]}

    @property
    def total(self) -> float:
        return self.data["score"]

    def lost(self) -> set[str]:
        """The items that scored below full marks."""
        return {item for item, score in self.scores.items() if score < self.max_scores[item]}


@pytest.fixture
def grade(tmp_path, capsys):
    """Grade a submission folder or zip in-process through the CLI; returns Graded."""
    counter = iter(range(1000))

    def run(submission: Path, *options: str) -> Graded:
        results = tmp_path / f"results-{next(counter)}.json"
        code = cli.main([str(submission), "--results", str(results), *options])
        stdout = capsys.readouterr().out
        return Graded(results, code, stdout)

    return run
