"""Grade one submission: run the rubric checks with pytest and turn them into item scores.

The checks are the pytest tests in `grader/checks/`, each marked with its rubric item.
They run in this (trusted) process; student code runs only in the worker the session
talks to. An item's score is its points times the fraction of its checks that passed.
"""

import contextlib
import io
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pytest_jsonreport.plugin import JSONReport

from grader import __version__
from grader.compare import CheckFailed
from grader.errors import ConfigError
from grader.rubric import Item, Rubric
from grader.sandbox import Limits, Sandbox
from grader.session import Session, StudentError, WorkerLost
from grader.submission import Submission

log = logging.getLogger(__name__)

CHECKS_DIR = Path(__file__).with_name("checks")
PYTEST_ARGS = [
    str(CHECKS_DIR),
    *("-q", "--tb=no", "-p", "no:cacheprovider", "-p", "no:warnings"),
    *("--rootdir", str(CHECKS_DIR), "-c", "/dev/null", "-o", "python_files=test_*.py"),
    *("--json-report-file=none", "-s"),
]
"""Run only our checks, quietly, whatever pytest configuration lies around the grader."""


@dataclass
class ItemResult:
    """The outcome of one rubric item for one submission."""

    item: Item
    score: float
    passed: int
    """Checks of the item that passed, out of `total`."""
    total: int
    failures: list[str] = field(default_factory=list)
    """One sentence per failed check: what was checked and what differed."""
    output: str = ""
    """What the student's code printed while this item ran, truncated."""
    artifacts: dict = field(default_factory=dict)
    """Values the checks kept for the reports (item 6's loss curves, activation curves)."""

    @property
    def reason(self) -> str:
        """The one-line reason for the table."""
        if self.passed == self.total:
            summaries = [text for key, text in self.artifacts.items() if key.startswith("summary")]
            return "; ".join(summaries) or "all checks passed"
        first = self.failures[0] if self.failures else "failed"
        return f"{self.total - self.passed}/{self.total} checks failed: {first}"


@dataclass
class SubmissionResult:
    """Everything the reports need about one graded submission."""

    name: str
    items: list[ItemResult]
    isolation: dict
    seconds: float
    problems: list[str] = field(default_factory=list)
    """Problems with the submission as a whole (missing packages, unreadable zip)."""

    @property
    def score(self) -> float:
        return round(sum(result.score for result in self.items), 2)

    @property
    def max_score(self) -> float:
        return sum(result.item.points for result in self.items)


class GradingPlugin:
    """Gives the checks their session, cases and rubric, and times each item."""

    def __init__(self, session: Session, rubric: Rubric, cases: dict):
        self.grading_session = session
        self.rubric = rubric
        self.cases = cases
        self.current_item: str | None = None
        self.timed_out: set[str] = set()
        self.outputs: dict[str, str] = {}
        self.artifacts: dict[str, dict] = {}
        self.order = {item.id: index for index, item in enumerate(rubric.items)}

    def pytest_configure(self, config):
        config.grading = self

    def record(self, item_id: str, key: str, value) -> None:
        """Keep a JSON-friendly value for the reports (see the `record` fixture)."""
        self.artifacts.setdefault(item_id, {})[key] = value

    def pytest_collection_modifyitems(self, session, config, items):
        for test in items:
            marker = test.get_closest_marker("item")
            if marker is None or marker.args[0] not in self.order:
                where = marker.args[0] if marker else "no item marker"
                raise ConfigError(f"{test.nodeid}: check belongs to unknown rubric item ({where})")
        items.sort(key=lambda test: self.order[test.get_closest_marker("item").args[0]])

    def pytest_runtest_setup(self, item):
        item_id = item.get_closest_marker("item").args[0]
        if item_id != self.current_item:
            self._finish_item()
            self.current_item = item_id
            self.grading_session.set_deadline(self.rubric.item(item_id).time_limit)
        if item_id in self.timed_out:
            pytest.fail("not run: this item already ran out of time", pytrace=False)

    def pytest_sessionfinish(self):
        self._finish_item()

    def _finish_item(self):
        if self.current_item is not None:
            self.outputs[self.current_item] = self.grading_session.output.take()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        if call.excinfo is not None and call.excinfo.errisinstance(WorkerLost):
            item_id = item.get_closest_marker("item").args[0]
            if "time limit" in str(call.excinfo.value):
                self.timed_out.add(item_id)
        return outcome

    def pytest_json_runtest_metadata(self, item, call):
        if call.when not in ("setup", "call"):
            return {}
        metadata = {"item": item.get_closest_marker("item").args[0]}
        if call.excinfo is not None:
            metadata["feedback"] = _feedback(call.excinfo.value)
        return metadata


def _feedback(error: BaseException) -> str:
    """The student-facing sentence for a failed check."""
    if isinstance(error, CheckFailed):
        return str(error)
    if isinstance(error, StudentError):
        return f"your code raised {error}"
    if isinstance(error, WorkerLost):
        return f"your code {error}" if str(error).startswith("did not") else str(error)
    if isinstance(error, pytest.fail.Exception):
        return str(error.msg)
    log.warning("a check failed inside the grader: %r", error)
    return f"the check could not run ({type(error).__name__}: {error})"


def grade(
    submission: Submission,
    rubric: Rubric,
    cases: dict,
    limits: Limits | None = None,
    isolate: bool = True,
) -> SubmissionResult:
    """Run every check against one located submission and score it."""
    started = time.monotonic()
    sandbox = Sandbox(submission.root, limits, isolate=isolate)
    session = Session(sandbox)
    plugin = GradingPlugin(session, rubric, cases)
    report = JSONReport()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            code = pytest.main(PYTEST_ARGS, plugins=[plugin, report])
    finally:
        session.close()
        sandbox.cleanup()
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        raise ConfigError(f"the rubric checks in {CHECKS_DIR} could not run (pytest exit {code})")

    items = _score(rubric, report.report["tests"], plugin.outputs, plugin.artifacts)
    return SubmissionResult(
        name=submission.name,
        items=items,
        isolation=sandbox.isolation.describe(),
        seconds=time.monotonic() - started,
        problems=list(submission.problems),
    )


def _score(rubric: Rubric, tests: list[dict], outputs: dict, artifacts: dict) -> list[ItemResult]:
    by_item: dict[str, list[dict]] = {item.id: [] for item in rubric.items}
    for test in tests:
        by_item[test["metadata"]["item"]].append(test)

    results = []
    for item in rubric.items:
        checks = by_item[item.id]
        if not checks:
            raise ConfigError(f"{rubric.source}: item {item.id} has no checks in {CHECKS_DIR}")
        passed = sum(test["outcome"] == "passed" for test in checks)
        failures = [
            test["metadata"].get("feedback", "failed")
            for test in checks
            if test["outcome"] != "passed"
        ]
        score = round(item.points * passed / len(checks), 2)
        results.append(
            ItemResult(
                item,
                score,
                passed,
                len(checks),
                failures,
                outputs.get(item.id, ""),
                artifacts.get(item.id, {}),
            )
        )
    return results


def versions() -> dict[str, str]:
    """The grader's and NumPy's versions (torch's is in the fixture manifest)."""
    import numpy

    return {"grader": __version__, "numpy": numpy.__version__}
