"""`make bench`: time `grade` against the in-process baseline, side by side, on this machine.

    python benchmarks/bench.py [--runs 5] [--batch-runs 1] [--batch-size 20] [--jobs N]

1. One submission (reference/): `grade reference` against `python benchmarks/baseline.py
   reference`, each run --runs times, interleaved; the median wall time and the peak
   memory of each.
2. A batch of --batch-size different submissions (mutants and variants of reference/ from
   tests/mutants.py): one `grade a b c ... --csv` against the baseline run once per
   submission, one after the other, as a TA's shell loop would.

Every command runs in a fresh process under benchmarks/peak.py, which reports the peak
memory of the grading process itself and of its largest child. Prints the table, the
ratios and whether each goal of issue 5 holds; nothing is asserted.
"""

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO / "benchmarks"
PYTHON = sys.executable
GRADE = str(Path(sys.executable).with_name("grade"))
BASELINE = str(BENCHMARKS / "baseline.py")

sys.path.insert(0, str(REPO / "tests"))
from mutants import MUTANTS, VARIANTS, apply  # noqa: E402

ONE_GOAL = 1.0
"""`grade` on one submission: at most this many times the baseline's wall time."""
BATCH_GOAL = 0.25
"""`grade` on the batch: at most this many times the baseline's, run once per submission."""
MEMORY_GOAL_MB = 600
BUSY = " (the machine is busy: other work skews these numbers)"


@dataclass
class Run:
    """One measured command: its wall time and peaks."""

    seconds: float
    self_mb: float
    """Peak resident memory of the process itself (the grading process for `grade`)."""
    children_mb: float
    """The largest peak among the processes it started (workers, forked graders)."""
    imported_torch: bool


def measure(script: str, *arguments: str) -> Run:
    """Run `python SCRIPT ARGS` under peak.py in a fresh process; fail loudly if it fails."""
    with tempfile.NamedTemporaryFile(suffix=".json") as report:
        command = [PYTHON, str(BENCHMARKS / "peak.py"), report.name, script, *arguments]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"bench: {' '.join(command)} failed:\n{done.stdout}{done.stderr}")
        peaks = json.loads(Path(report.name).read_text())
    return Run(seconds, peaks["self_mb"], peaks["children_mb"], peaks["imported_torch"])


def make_batch(folder: Path, size: int) -> list[Path]:
    """`size` different submissions: single-bug mutants and harmless variants of reference/."""
    changes = random.Random(5).sample(MUTANTS + VARIANTS, size)
    return [apply(change, REPO / "reference", folder / change.name) for change in changes]


def isolation_of(csv_path: Path) -> set[str]:
    lines = csv_path.read_text().splitlines()
    column = lines[0].split(",").index("isolation")
    return {line.split(",")[column] for line in lines[1:]}


def bench_one(runs: int, scratch: Path) -> tuple[list[Run], list[Run], str]:
    results = scratch / "results.json"
    grade_runs, baseline_runs = [], []
    for _ in range(runs):
        grade_runs.append(measure(GRADE, "reference", "--results", str(results)))
        baseline_runs.append(measure(BASELINE, "reference"))
    level = json.loads(results.read_text())["extra_data"]["isolation"]["level"]
    return grade_runs, baseline_runs, level


def bench_batch(
    runs: int, size: int, jobs: int, scratch: Path
) -> tuple[list[Run], list[Run], set[str]]:
    submissions = [str(path) for path in make_batch(scratch / "batch", size)]
    gradebook = scratch / "grades.csv"
    grade_runs, baseline_runs = [], []
    for _ in range(runs):
        grade_runs.append(
            measure(GRADE, *submissions, "--csv", str(gradebook), "--jobs", str(jobs))
        )
        one_by_one = [measure(BASELINE, submission) for submission in submissions]
        baseline_runs.append(
            Run(
                sum(run.seconds for run in one_by_one),
                max(run.self_mb for run in one_by_one),
                max(run.children_mb for run in one_by_one),
                any(run.imported_torch for run in one_by_one),
            )
        )
    return grade_runs, baseline_runs, isolation_of(gradebook)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        cpu = next(
            line.split(":", 1)[1].strip() for line in lscpu.splitlines() if "Model name" in line
        )
    except (OSError, StopIteration):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{cpu}, {cores} cores, {memory:.0f} GB RAM; {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}"
    )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of the one-submission pair")
    parser.add_argument("--batch-runs", type=int, default=1, help="runs of the batch pair")
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=None, help="grade --jobs (default: cores)")
    args = parser.parse_args(argv)
    jobs = args.jobs or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)

    print(f"machine: {machine()}")
    load = os.getloadavg()[0]
    print(f"load average before the runs: {load:.2f}" + (BUSY if load > 0.5 else ""))
    with tempfile.TemporaryDirectory(prefix="mytorch-bench-") as scratch:
        scratch = Path(scratch)
        print(f"one submission: {args.runs} runs each ...", flush=True)
        grade_one, base_one, level = bench_one(args.runs, scratch)
        print(f"batch of {args.batch_size}: {args.batch_runs} run(s) each ...", flush=True)
        grade_batch, base_batch, batch_levels = bench_batch(
            args.batch_runs, args.batch_size, jobs, scratch
        )

    one_grade = statistics.median(run.seconds for run in grade_one)
    one_base = statistics.median(run.seconds for run in base_one)
    batch_grade = statistics.median(run.seconds for run in grade_batch)
    batch_base = statistics.median(run.seconds for run in base_batch)
    one_ratio, batch_ratio = one_grade / one_base, batch_grade / batch_base
    grading_mb = max(run.self_mb for run in grade_one + grade_batch)
    child_mb = max(run.children_mb for run in grade_one + grade_batch)
    baseline_mb = max(run.self_mb for run in base_one + base_batch)
    imported = any(run.imported_torch for run in grade_one + grade_batch)

    rows = [
        ("", "grade", "baseline", "ratio", "goal", ""),
        (
            f"one submission, wall (median of {args.runs})",
            f"{one_grade:.2f} s",
            f"{one_base:.2f} s",
            f"{one_ratio:.2f}x",
            f"<= {ONE_GOAL:g}x, full isolation",
            verdict(one_ratio <= ONE_GOAL and level == "full"),
        ),
        (
            f"batch of {args.batch_size}, wall (grade -j {jobs}; baseline x{args.batch_size})",
            f"{batch_grade:.2f} s",
            f"{batch_base:.2f} s",
            f"{batch_ratio:.2f}x",
            f"<= {BATCH_GOAL:g}x, full isolation",
            verdict(batch_ratio <= BATCH_GOAL and batch_levels == {"full"}),
        ),
        (
            "peak memory, grading process",
            f"{grading_mb:.0f} MB",
            f"{baseline_mb:.0f} MB",
            "",
            f"< {MEMORY_GOAL_MB} MB",
            verdict(grading_mb < MEMORY_GOAL_MB),
        ),
        ("peak memory, largest child of grade", f"{child_mb:.0f} MB", "", "", "", ""),
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    print()
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        print("  ".join(cells).rstrip())
    print()
    print(f"isolation: one submission {level}; batch {', '.join(sorted(batch_levels))}")
    print(f"grade imported torch: {'yes' if imported else 'no'}")
    print(f"jobs: {jobs}; grade one-submission runs: {_seconds(grade_one)}")
    print(f"baseline one-submission runs: {_seconds(base_one)}")
    return 0


def _seconds(runs: list[Run]) -> str:
    return ", ".join(f"{run.seconds:.2f}" for run in runs)


if __name__ == "__main__":
    sys.exit(main())
