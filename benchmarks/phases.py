"""Where the time of `grade SUBMISSION` goes: a profile by phase, cold and warm.

    python benchmarks/phases.py [SUBMISSION] [--runs 5]

Each run is a fresh process that times the grader's imports, then grades SUBMISSION
(default: reference/) twice through `grader.cli.main` with a timer around the grader's
main steps. Each moment is charged to the innermost step running then, so the phases add
up to the run's wall time; whatever no step claims (pytest's collection, fixtures and
reports, and the checks' own code) is "pytest and the checks".

- cold: the first grading, what `grade SUBMISSION` pays (with Python's start, timed apart
  as `python -c pass`, and the imports);
- warm: the second, what each further submission of a batch pays, once the parent has
  imported, collected the checks and probed the sandbox (a batch also loads the rubric
  and fixtures only once, which this second grading does again: 0.03 s).

Prints the median of --runs runs.
"""

import argparse
import contextlib
import functools
import importlib
import io
import json
import statistics
import subprocess
import sys
import tempfile
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


def profile_in_this_process(submission: str, report_path: str) -> None:
    """One fresh process's share of the profile: imports, a cold and a warm grading."""
    started = time.perf_counter()
    phases = Phases()
    phases.instrument()
    importlib.import_module("grader.cli")
    imports = time.perf_counter() - started

    cold = one_run(phases, submission)
    warm = one_run(phases, submission)
    with open(report_path, "w") as stream:
        json.dump(
            {"imports": imports, "cold": cold, "warm": warm, "calls": phases.calls}
            | {"missing": phases.missing},
            stream,
        )


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
    parser.add_argument("--report", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.report:
        profile_in_this_process(args.submission, args.report)
        return 0

    interpreter = fresh_process_seconds("pass", args.runs)
    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        report = str(Path(scratch) / "phases.json")
        for _ in range(args.runs):
            command = [sys.executable, __file__, args.submission, "--report", report]
            subprocess.run(command, check=True, cwd=REPO)
            runs.append(json.loads(Path(report).read_text()))

    def median(kind: str, phase: str) -> float:
        return statistics.median(run[kind].get(phase, 0.0) for run in runs)

    phases = {phase for run in runs for kind in ("cold", "warm") for phase in run[kind]}
    rows = [
        ("Python's start (python -c pass)", interpreter, 0.0),
        ("the grader's imports", statistics.median(run["imports"] for run in runs), 0.0),
    ]
    rows += sorted(
        ((phase, median("cold", phase), median("warm", phase)) for phase in phases),
        key=lambda row: -row[1],
    )
    cold_total = sum(row[1] for row in rows)
    warm_total = sum(row[2] for row in rows)

    print(f"grade {args.submission}: median of {args.runs} fresh processes, by phase")
    width = max(len(row[0]) for row in rows)
    print(f"  {'':<{width}}  {'cold (one grade)':>18}  {'warm (in a batch)':>18}")
    for name, cold, warm in rows:
        print(
            f"  {name:<{width}}  {cold:7.3f} s {100 * cold / cold_total:4.0f} %"
            f"  {warm:7.3f} s {100 * warm / warm_total:4.0f} %"
        )
    print(f"  {'total':<{width}}  {cold_total:7.3f} s{'':7}  {warm_total:7.3f} s")
    print()
    calls = runs[-1]["calls"]
    print(
        f"per grading: {calls.get('Template.__init__', 0)} sandbox start, "
        f"{calls.get('Template.fork', 0)} workers forked, "
        f"{calls.get('Worker.exchange', 0)} requests, "
        f"{calls.get('grader.compare.check', 0)} comparisons"
    )
    if runs[-1]["missing"]:
        print(f"not timed (not in this version of the grader): {', '.join(runs[-1]['missing'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
