"""Where the time of `grade SUBMISSION` goes: a profile of one run, by phase.

    python benchmarks/phases.py [SUBMISSION] [--runs 5]

Grades SUBMISSION (default: reference/) in this process through `grader.cli.main`, with a
timer around the grader's main steps. Each moment of the run is charged to the innermost
step running then, so the phases add up to the run's wall time; whatever no step claims
(pytest's own collection, fixtures and reports, and the checks' code) is "pytest and the
checks". Process start and the grader's imports are timed in separate fresh processes.
Prints the median of --runs runs (after one unmeasured warm-up run).
"""

import argparse
import contextlib
import functools
import importlib
import io
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SANDBOX = "start the sandbox: shepherd, bubblewrap, Python, NumPy"
FORK = "fork a worker per item, end it"
IMPORT = "import the submission in each worker"
REQUESTS = "requests: wire and the worker's own time"


def _request_phase(worker, header, *rest) -> str:
    return IMPORT if isinstance(header, dict) and header.get("op") == "import" else REQUESTS


def _answer_phase(template, kind, *rest) -> str:
    return SANDBOX if kind == "ready" else FORK


STEPS = [
    ("grader.rubric", None, "load", "load the rubric and fixtures"),
    ("grader.fixtures", None, "load", "load the rubric and fixtures"),
    ("grader.submission", None, "locate", "copy the submission"),
    ("grader.submission", "Submission", "cleanup", "copy the submission"),
    ("grader.sandbox", "Sandbox", "__init__", "sandbox folder and probe: set up, remove"),
    ("grader.sandbox", "Sandbox", "cleanup", "sandbox folder and probe: set up, remove"),
    ("grader.sandbox", "Sandbox", "sweep", FORK),
    ("grader.session", "Template", "__init__", SANDBOX),
    ("grader.session", "Template", "answer", _answer_phase),
    ("grader.session", "Template", "fork", FORK),
    ("grader.session", "Template", "end_worker", FORK),
    ("grader.session", "Template", "stop", "stop the sandbox"),
    ("grader.session", "Worker", "wait_ready", FORK),
    ("grader.session", "Worker", "exchange", _request_phase),
    ("grader.stand_ins", "Registry", "answer", "stand-ins' arithmetic (grader side)"),
    ("grader.compare", None, "check", "compare with torch's values, diagnose"),
    ("pytest", None, "main", "pytest and the checks (the rest)"),
]
"""(module, class or None, function, phase): the steps timed, innermost wins. A phase may
be a function of the call's arguments."""


class Phases:
    """Wall time charged to the innermost timed step running, and how often each ran."""

    def __init__(self):
        self.missing: list[str] = []
        self.reset()

    def reset(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.stack = ["cli: parse, report, write"]
        self.mark = time.perf_counter()

    def charge(self) -> None:
        now = time.perf_counter()
        self.seconds[self.stack[-1]] += now - self.mark
        self.mark = now

    def wrap(self, owner, name: str, phase: str) -> None:
        original = getattr(owner, name)
        counted = f"{getattr(owner, '__name__', owner)}.{name}"

        @functools.wraps(original)
        def timed(*args, **kwargs):
            self.charge()
            self.stack.append(phase(*args, **kwargs) if callable(phase) else phase)
            self.calls[counted] += 1
            try:
                return original(*args, **kwargs)
            finally:
                self.charge()
                self.stack.pop()

        setattr(owner, name, timed)

    def instrument(self) -> None:
        """Wrap every step that exists in this version of the grader, before the grader's
        own modules import them by name; note the steps that do not exist."""
        for module_name, class_name, function, phase in STEPS:
            owner = importlib.import_module(module_name)
            owner = getattr(owner, class_name, None) if class_name else owner
            if owner is None or not hasattr(owner, function):
                self.missing.append(".".join(filter(None, (module_name, class_name, function))))
                continue
            self.wrap(owner, function, phase)


def one_run(phases: Phases, submission: str) -> dict[str, float]:
    """Grade once in this process; the seconds of each phase."""
    from grader import cli

    phases.reset()
    with contextlib.redirect_stdout(io.StringIO()):
        cli.main([submission])
    phases.charge()
    return dict(phases.seconds)


def fresh_process_seconds(code: str, runs: int) -> float:
    """Median wall time of `python -c CODE` in a fresh process."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("submission", nargs="?", default=str(REPO / "reference"))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)

    interpreter = fresh_process_seconds("pass", args.runs)
    imports = fresh_process_seconds("import grader.cli", args.runs) - interpreter

    phases = Phases()
    phases.instrument()
    one_run(phases, args.submission)  # warm-up: file caches, bubblewrap's probe
    runs = [one_run(phases, args.submission) for _ in range(args.runs)]

    names = sorted({phase for run in runs for phase in run})
    median = {phase: statistics.median(run.get(phase, 0.0) for run in runs) for phase in names}
    rows = [("Python starts (python -c pass)", interpreter), ("grader's imports", imports)]
    rows += sorted(median.items(), key=lambda row: -row[1])
    total = sum(seconds for _, seconds in rows)

    print(f"grade {args.submission}: median of {args.runs} runs, by phase")
    width = max(len(name) for name, _ in rows)
    for name, seconds in rows:
        print(f"  {name:<{width}}  {seconds:6.3f} s  {100 * seconds / total:4.0f} %")
    print(f"  {'total':<{width}}  {total:6.3f} s")
    print()
    calls = phases.calls
    print(
        f"per run: {calls.get('Template.__init__', 0)} sandbox starts, "
        f"{calls.get('Template.fork', 0)} workers forked, "
        f"{calls.get('Worker.exchange', 0)} requests, "
        f"{calls.get('grader.compare.check', 0)} comparisons"
    )
    if phases.missing:
        print(f"not timed (not in this version of the grader): {', '.join(phases.missing)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
