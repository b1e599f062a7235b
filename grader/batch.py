"""Grade many submissions at once: a few at a time, each in its own forked grading process.

The rubric, the fixtures and the grader's imports are loaded once, in the parent, before
any fork; each child grades one submission (its own workers, sandbox and time limits) and
sends back its SubmissionResult. A child that dies, for whatever reason, costs only its
own submission, which is then reported with a zero score and the reason.
"""

import logging
import multiprocessing
import multiprocessing.connection
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from grader import runner
from grader.errors import ConfigError, GraderError
from grader.rubric import Rubric
from grader.runner import ItemResult, SubmissionResult
from grader.sandbox import Limits
from grader.submission import locate

log = logging.getLogger(__name__)

CHILD_GRACE_SECONDS = 30.0
"""How long a grading child may take beyond the sum of the rubric's time limits."""


@dataclass(frozen=True)
class Shard:
    """`--shard K/N`: the submissions whose position (from 0, sorted) is K modulo N."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> "Shard":
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise ConfigError(f"--shard {text!r}: write it as K/N, e.g. --shard 0/4") from None
        if count < 1 or not 0 <= index < count:
            raise ConfigError(f"--shard {text!r}: K must be in 0..N-1 and N >= 1")
        return cls(index, count)

    def select(self, paths: list[Path]) -> list[Path]:
        ordered = sorted(paths, key=lambda path: str(path))
        return [
            path for position, path in enumerate(ordered) if position % self.count == self.index
        ]


def grade_one(path: Path, rubric: Rubric, cases: dict, limits: Limits, isolate: bool):
    """Locate and grade one submission; a bad path is the instructor's mistake."""
    submission = locate(path)
    try:
        return runner.grade(submission, rubric, cases, limits, isolate=isolate)
    finally:
        submission.cleanup()


def grade_many(
    paths: list[Path],
    rubric: Rubric,
    cases: dict,
    limits: Limits,
    isolate: bool,
    jobs: int,
) -> Iterator[tuple[int, SubmissionResult]]:
    """Yield (position in `paths`, result) as each submission finishes, `jobs` at a time."""
    context = multiprocessing.get_context("fork")
    budget = sum(item.time_limit for item in rubric.items) + CHILD_GRACE_SECONDS
    pending = list(enumerate(paths))
    running: dict[int, tuple[multiprocessing.Process, object, float]] = {}

    while pending or running:
        while pending and len(running) < jobs:
            position, path = pending.pop(0)
            receiver, sender = context.Pipe(duplex=False)
            child = context.Process(
                target=_child, args=(sender, path, rubric, cases, limits, isolate), daemon=True
            )
            child.start()
            sender.close()
            running[position] = (child, receiver, time.monotonic() + budget)

        ready = multiprocessing.connection.wait(
            [receiver for _, receiver, _ in running.values()], timeout=0.5
        )
        for position in list(running):
            child, receiver, deadline = running[position]
            if receiver in ready or not child.is_alive() or time.monotonic() > deadline:
                result = _collect(child, receiver, deadline)
                del running[position]
                yield position, result or _crashed(paths[position], rubric, child)


def _child(sender, path, rubric, cases, limits, isolate) -> None:
    try:
        result = grade_one(path, rubric, cases, limits, isolate)
    except GraderError as error:
        result = error
    except BaseException as error:  # noqa: BLE001 - reported, then the child exits
        log.exception("grading %s failed inside the grader", path)
        result = GraderError(f"{path}: the grader failed on this submission ({error!r})")
    sender.send(result)
    sender.close()
    sys.stdout.flush()
    os._exit(0)


def _collect(child, receiver, deadline):
    result = None
    try:
        if receiver.poll(max(0.0, min(5.0, deadline - time.monotonic()))):
            result = receiver.recv()
    except (EOFError, OSError):
        result = None
    child.join(timeout=1)
    if child.is_alive():
        child.kill()
        child.join()
    receiver.close()
    if isinstance(result, GraderError):
        raise result
    return result


def _crashed(path: Path, rubric: Rubric, child) -> SubmissionResult:
    reason = f"the grader's process for this submission ended (exit code {child.exitcode})"
    items = [
        ItemResult(item, 0.0, 0, 1, [f"not graded: {reason}; please tell the course staff"])
        for item in rubric.items
    ]
    return SubmissionResult(Path(path).name, items, {"level": "unknown"}, 0.0, [reason])


def summary(results: list[SubmissionResult]) -> str:
    """Count, mean, median, and the items lost most often."""
    if not results:
        return "no submissions graded"
    totals = [result.score for result in results]
    lost = Counter(
        item.item.id for result in results for item in result.items if item.passed < item.total
    )
    common = ", ".join(f"{item} ({count})" for item, count in lost.most_common(5)) or "none"
    return (
        f"{len(results)} graded: mean {statistics.fmean(totals):.2f}, "
        f"median {statistics.median(totals):g} of {results[0].max_score:g}; "
        f"items lost most often: {common}"
    )


class Progress:
    """A progress bar on a terminal; one plain line per submission otherwise."""

    def __init__(self, total: int, stream=sys.stderr):
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self.stream = stream
        self.tty = stream.isatty()

    def update(self, result: SubmissionResult) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.started
        remaining = elapsed / self.done * (self.total - self.done)
        if self.tty:
            width = 30
            filled = int(width * self.done / self.total)
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(f"\r[{bar}] {self.done}/{self.total}  about {remaining:.0f} s left  ")
            if self.done == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(
                f"[{self.done}/{self.total}] {result.name}: {result.score:g}/"
                f"{result.max_score:g} ({result.seconds:.1f} s)\n"
            )
        self.stream.flush()
