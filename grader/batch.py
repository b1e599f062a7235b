"""Grade many submissions in one run: a few at a time, each in its own forked grading process.

The fixed costs are paid once, in the parent, before any fork: the rubric, the fixtures
(torch's expected values, frozen), the grader's imports, the collection of the rubric
checks and the probe of the sandbox's layers. Each child then grades one submission with
its own sandbox, workers and time limits, and sends back its SubmissionResult (a trusted
process talking to its parent; the student's code stays behind the worker's wire). A
child that dies or overruns costs only its own submission, which is reported with a zero
score and the reason.
"""

import contextlib
import gc
import io
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_jsonreport.plugin import JSONReport

from grader import report, runner
from grader.errors import ConfigError, GraderError
from grader.rubric import Rubric
from grader.runner import ItemResult, SubmissionResult
from grader.sandbox import Limits, Sandbox
from grader.session import START_SECONDS
from grader.submission import locate

log = logging.getLogger(__name__)

CHILD_GRACE_SECONDS = 30.0
"""How long a grading child may take beyond its items' time limits and worker starts.

The budget only catches a grading process that is stuck (a grader bug): it allows every
item its time limit plus the longest a worker may take to start, which a loaded machine
may need, and is never what stops a slow or hostile submission (its time limits do)."""
STOP_SECONDS = 5.0
"""How long a child asked to stop may take to end its worker and remove its files."""


@dataclass(frozen=True)
class Shard:
    """`--shard K/N`: the submissions whose position (from 0, sorted by path) is K modulo N."""

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
        """Every N-th path from the K-th, in sorted order: the same split on every machine."""
        ordered = sorted(paths, key=str)
        return ordered[self.index :: self.count]


@dataclass(frozen=True)
class Queued:
    """One submission of a batch, named before any of them is graded."""

    path: Path
    name: str
    """Its name in the table and the CSV: the folder's name or the zip's stem, or the path
    as given when two submissions would otherwise share a name."""
    file_stem: str
    """A file-safe form of `name` for `--results-dir`, unique within the whole batch."""


def plan(paths: list[Path], shard: Shard | None = None) -> list[Queued]:
    """Check the paths, name them over the whole list, then keep the shard's share.

    Names are given before sharding, so that every shard of a split names a submission the
    same way and the shards' results can be written into one folder. A missing path is
    the instructor's mistake and stops the run before anything is graded.
    """
    unique_paths = _without_repeats(paths)
    missing = [str(path) for path in unique_paths if not path.exists()]
    if missing:
        raise GraderError(
            f"{', '.join(missing[:3])}: no such file or folder; pass submissions to grade"
        )

    names = submission_names(unique_paths)
    stems = report.unique_names(names)
    queued = {
        path: Queued(path, name, stem)
        for path, name, stem in zip(unique_paths, names, stems, strict=True)
    }
    selected = shard.select(unique_paths) if shard else unique_paths
    return [queued[path] for path in selected]


def _without_repeats(paths: list[Path]) -> list[Path]:
    """The paths in their order, each place on disk once (`a/b` and `a/../a/b` are one)."""
    seen, unique = set(), []
    for path in map(Path, paths):
        if path.resolve() not in seen:
            seen.add(path.resolve())
            unique.append(path)
    return unique


def submission_names(paths: list[Path]) -> list[str]:
    """The folder's name or the zip's stem; the path as given where that is ambiguous."""
    short = [_short_name(path) for path in paths]
    counts = Counter(short)
    return [
        name if counts[name] == 1 else str(path) for name, path in zip(short, paths, strict=True)
    ]


def _short_name(path: Path) -> str:
    return (path.stem if path.suffix == ".zip" else path.name) or str(path)


def default_jobs() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def grade_one(path: Path, rubric: Rubric, cases: dict, limits: Limits, isolate: bool):
    """Locate and grade one submission; a path that does not exist is a GraderError."""
    submission = locate(path)
    try:
        return runner.grade(submission, rubric, cases, limits, isolate=isolate)
    finally:
        submission.cleanup()


def prepare(rubric: Rubric, cases: dict, limits: Limits, isolate: bool) -> None:
    """Pay once, before forking, what every grading child would otherwise pay again.

    Collecting the rubric checks imports them and pytest's plugins; a rubric whose checks
    do not collect is reported here, once, instead of once per submission. A throwaway
    sandbox probes the isolation layers this machine allows (a sandbox probes once per
    process), so that the children inherit the answer: every submission of the batch gets
    the same isolation level, and the probe's Python and NumPy start is paid once.
    """
    plugin = runner.GradingPlugin(None, rubric, cases)
    with contextlib.redirect_stdout(io.StringIO()):
        code = pytest.main([*runner.PYTEST_ARGS, "--collect-only"], plugins=[plugin, JSONReport()])
    if code != pytest.ExitCode.OK:
        raise ConfigError(
            f"the rubric checks in {runner.CHECKS_DIR} could not be collected (pytest exit "
            f"{code}); run `pytest {runner.CHECKS_DIR} --collect-only` to see why"
        )

    with tempfile.TemporaryDirectory(prefix="mytorch-probe-") as empty:
        Sandbox(Path(empty), limits, isolate=isolate).cleanup()


def grade_many(
    queue: list[Queued],
    rubric: Rubric,
    cases: dict,
    limits: Limits,
    isolate: bool,
    jobs: int,
) -> Iterator[tuple[int, SubmissionResult]]:
    """Yield (position in `queue`, result) as each submission finishes, `jobs` at a time.

    Every child still running when this generator ends (finished, closed, or interrupted
    by Ctrl-C) is stopped and waited for.
    """
    context = multiprocessing.get_context("fork")
    budget = sum(item.time_limit + START_SECONDS for item in rubric.items) + CHILD_GRACE_SECONDS
    pending = list(enumerate(queue))
    running: dict[int, _Child] = {}

    # Objects the parent made before forking are left out of the children's garbage
    # collections: less work for them, and fewer of the parent's pages copied into each.
    gc.freeze()
    # A scheduler's SIGTERM (a job array's time limit) stops the batch as Ctrl-C does.
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous_handler = signal.signal(signal.SIGTERM, _interrupt) if in_main_thread else None
    try:
        while pending or running:
            while pending and len(running) < jobs:
                position, queued = pending.pop(0)
                running[position] = _Child.start(
                    context, queued, budget, (rubric, cases, limits, isolate)
                )

            ready = multiprocessing.connection.wait(
                [child.receiver for child in running.values()], timeout=0.5
            )
            for position, child in list(running.items()):
                if child.receiver in ready or not child.process.is_alive() or child.overdue():
                    del running[position]
                    yield position, child.finish(rubric)
    finally:
        for child in running.values():
            child.stop()
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous_handler)
        gc.unfreeze()


def _interrupt(signum, frame):
    raise KeyboardInterrupt


@dataclass
class _Child:
    """A forked grading process, the pipe its result comes back on, and its deadline."""

    queued: Queued
    process: multiprocessing.Process
    receiver: multiprocessing.connection.Connection
    started: float
    budget: float

    @classmethod
    def start(cls, context, queued: Queued, budget: float, grading: tuple) -> "_Child":
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=_child_main, args=(sender, queued, *grading))
        process.start()
        sender.close()
        return cls(queued, process, receiver, time.monotonic(), budget)

    def overdue(self) -> bool:
        return time.monotonic() > self.started + self.budget

    def finish(self, rubric: Rubric) -> SubmissionResult:
        """The child's result; a zero with the reason when it sent none."""
        result = None
        with contextlib.suppress(EOFError, OSError):
            if not self.overdue() and self.receiver.poll(STOP_SECONDS):
                result = self.receiver.recv()
        overran = result is None and self.overdue()
        self.stop(exiting=result is not None)

        if isinstance(result, ConfigError):
            raise result
        if isinstance(result, SubmissionResult):
            result.name = self.queued.name
            return result
        if isinstance(result, Exception):
            reason = f"the grader failed on this submission ({result})"
        elif overran:
            reason = f"grading took longer than {self.budget:.0f} s and was stopped"
        else:
            reason = f"the grading process ended without a result ({_ended(self.process)})"
        return _not_graded(self.queued.name, rubric, reason)

    def stop(self, exiting: bool = False) -> None:
        """Ask the child to end (it stops its worker and removes its files), then make it.

        A child that has sent its result (`exiting`) is first given the time to exit.
        """
        self.receiver.close()
        if exiting:
            self.process.join(STOP_SECONDS)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(STOP_SECONDS)
        if self.process.is_alive():
            self.process.kill()
        self.process.join()


def _child_main(sender, queued: Queued, rubric, cases, limits, isolate) -> None:
    """Grade one submission in a forked child; send the result or the error, then exit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, _stop_now)
    try:
        result = grade_one(queued.path, rubric, cases, limits, isolate)
    except _Stopped:
        os._exit(1)
    except GraderError as error:
        result = error
    except Exception as error:  # noqa: BLE001 - reported as this submission's error
        log.exception("grading %s failed inside the grader", queued.path)
        result = RuntimeError(f"{type(error).__name__}: {error}")
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # nothing left to clean up
    with contextlib.suppress(OSError):
        sender.send(result)
        sender.close()
    sys.stdout.flush()
    os._exit(0)


class _Stopped(KeyboardInterrupt):
    """Raised in a child asked to stop, so that its `finally` blocks clean up.

    A KeyboardInterrupt, because pytest ends its run on one (any other exception inside a
    check would only fail that check).
    """


def _stop_now(signum, frame):
    raise _Stopped()


def _ended(process: multiprocessing.Process) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit status {code}"


def _not_graded(name: str, rubric: Rubric, reason: str) -> SubmissionResult:
    items = [
        ItemResult(item, 0.0, 0, 1, [f"not graded: {reason}; please tell the course staff"])
        for item in rubric.items
    ]
    return SubmissionResult(name, items, {"level": "unknown"}, 0.0, [reason])


def summary(results: list[SubmissionResult], seconds: float | None = None) -> str:
    """Count, mean, median, and the items that cost points most often (in how many)."""
    if not results:
        return "no submissions graded"
    totals = [result.score for result in results]
    lost = Counter(
        item.item.id for result in results for item in result.items if item.score < item.item.points
    )
    order = {item.item.id: position for position, item in enumerate(results[0].items)}
    most = sorted(lost.items(), key=lambda pair: (-pair[1], order.get(pair[0], len(order))))
    common = ", ".join(f"{item} ({count})" for item, count in most[:5]) or "none"
    took = f" in {seconds:.1f} s" if seconds is not None else ""
    return (
        f"{len(results)} graded{took}: mean {statistics.fmean(totals):.2f}, "
        f"median {statistics.median(totals):g} of {results[0].max_score:g}; "
        f"items lost most often: {common}"
    )


class Progress:
    """A progress bar with a count and an estimate on a terminal; plain lines otherwise."""

    BAR_WIDTH = 30

    def __init__(self, total: int, stream=None):
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()

    def update(self, result: SubmissionResult) -> None:
        self.done += 1
        if self.tty:
            self._draw_bar()
        else:
            problems = "".join(f"  ! {problem}" for problem in result.problems)
            self.stream.write(
                f"[{self.done}/{self.total}] {result.name}: {result.score:g}/"
                f"{result.max_score:g} ({result.seconds:.1f} s){problems}\n"
            )
        self.stream.flush()

    def _draw_bar(self) -> None:
        elapsed = time.monotonic() - self.started
        left = elapsed / self.done * (self.total - self.done)
        filled = int(self.BAR_WIDTH * self.done / self.total)
        bar = "#" * filled + "-" * (self.BAR_WIDTH - filled)
        estimate = "done" if self.done == self.total else f"about {_clock(left)} left"
        self.stream.write(f"\r[{bar}] {self.done}/{self.total}  {estimate}\033[K")
        if self.done == self.total:
            self.stream.write("\n")


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes}:{seconds:02d}"
