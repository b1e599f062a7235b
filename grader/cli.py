"""`grade`: grade submissions, and the instructor's commands around it.

The only place that prints `Error: ...`: a GraderError raised anywhere below ends here.
"""

import argparse
import dataclasses
import hashlib
import importlib
import json
import logging
import sys
import time
from pathlib import Path

from grader import batch, fixtures, html_report, report, rubric, runner
from grader.errors import GraderError
from grader.sandbox import Limits

log = logging.getLogger(__name__)

SUBCOMMANDS = {
    "fixtures": "grader.fixtures",
    "template": "grader.template",
    "handout": "grader.handout",
    "bundle": "grader.bundle",
    "notebooks": "grader.notebooks",
}
"""Instructor commands: `grade NAME ...` runs `main(argv)` of the module."""

INSTRUCTOR_COMMANDS = """\
instructor commands:
  grade fixtures regenerate      rewrite fixtures/ and testerData.npz from the seed
  grade fixtures check           verify hashes, bit-for-bit regeneration, versions, and
                                 that the reference scores full marks
  grade template [--check]       rebuild (or check) student_template/ from reference/
  grade notebooks [--check]      regenerate (or check) the six tester notebooks
  grade handout --out FILE.zip   build the students' handout zip
  grade bundle --out FILE.zip    build the Gradescope autograder zip

exit status: 0 whenever grading completed, whatever the scores; 2 for a usage or
configuration error (printed as "Error: ...").
"""


def _grading_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grade",
        description="Grade MyTorch submissions (folders or .zip files) against torch.",
        epilog=INSTRUCTOR_COMMANDS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("submissions", nargs="+", type=Path, metavar="SUBMISSION")
    parser.add_argument("--results", type=Path, help="write Gradescope's results.json here")
    parser.add_argument(
        "--results-dir", type=Path, help="write one results.json per submission into this folder"
    )
    parser.add_argument("--csv", type=Path, help="write a gradebook: one row per submission")
    parser.add_argument(
        "--html", type=Path, help="write a self-contained HTML report (one submission)"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=batch.default_jobs(),
        help="submissions graded at once (default: the number of cores)",
    )
    parser.add_argument(
        "--shard",
        help="K/N: grade only every N-th submission (sorted by path), starting at K (from 0)",
    )
    parser.add_argument("--rubric", type=Path, help="rubric TOML (default: the bundled one)")
    parser.add_argument("--fixtures", type=Path, help="fixtures folder (default: bundled)")
    parser.add_argument(
        "--time-limit", type=float, help="seconds per rubric item, for every item (overrides)"
    )
    parser.add_argument(
        "--memory-limit",
        type=int,
        metavar="MB",
        help=f"address space of each worker (default: {Limits().memory_bytes >> 20})",
    )
    parser.add_argument(
        "--no-isolation",
        action="store_true",
        help="run workers without limits, user switch or namespaces (debugging only)",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in SUBCOMMANDS:
            module = importlib.import_module(SUBCOMMANDS[argv[0]])
            return module.main(argv[1:])
        return _grade_command(argv)
    except GraderError as error:
        print(f"Error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return 130


def _grade_command(argv: list[str]) -> int:
    args = _grading_parser().parse_args(argv)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
    )
    loaded_rubric = rubric.load(args.rubric)
    if args.time_limit is not None:
        loaded_rubric = rubric.with_time_limit(loaded_rubric, args.time_limit)
    fixtures_dir = args.fixtures or fixtures.default_fixtures_dir()
    cases = fixtures.load(fixtures_dir)
    extra = _extra_data(fixtures_dir)

    if args.results and len(args.submissions) != 1:
        raise GraderError("--results takes one submission; use --results-dir for several")
    if args.html and len(args.submissions) != 1:
        raise GraderError("--html takes one submission; grade them one at a time")
    if args.jobs < 1:
        raise GraderError(f"--jobs must be at least 1, got {args.jobs}")
    if args.memory_limit is not None and args.memory_limit < 128:
        raise GraderError(f"--memory-limit {args.memory_limit}: NumPy needs at least 128 MB")
    limits, isolate = Limits(), not args.no_isolation
    if args.memory_limit is not None:
        limits = dataclasses.replace(limits, memory_bytes=args.memory_limit << 20)

    if len(args.submissions) > 1 or args.shard:
        results = _grade_batch(loaded_rubric, cases, extra, limits, isolate, args)
    else:
        results = [batch.grade_one(args.submissions[0], loaded_rubric, cases, limits, isolate)]
        print(report.table(results[0]))
        if args.verbose:
            print(f"  isolation: {json.dumps(results[0].isolation)}")
            print(f"  graded in {results[0].seconds:.2f} s")
        if args.results:
            report.write_json(args.results, report.results_json(results[0], extra))
        if args.html:
            html_report.write(args.html, results[0])
        if args.results_dir:
            (file_stem,) = report.unique_names([results[0].name])
            report.write_json(
                args.results_dir / f"{file_stem}.json", report.results_json(results[0], extra)
            )

    if args.csv:
        report.write_csv(args.csv, results, loaded_rubric)
    return 0


def _grade_batch(loaded_rubric, cases, extra, limits, isolate, args) -> list:
    """Grade several submissions `--jobs` at a time, with progress; results in input order.

    Each submission's results.json, and the gradebook so far, are written as soon as it
    is graded, so an interrupted run keeps what it finished.
    """
    shard = batch.Shard.parse(args.shard) if args.shard else None
    queue = batch.plan(args.submissions, shard)
    batch.prepare(loaded_rubric, cases, limits, isolate)
    started = time.monotonic()

    progress = batch.Progress(len(queue))
    results = [None] * len(queue)
    for position, result in batch.grade_many(
        queue, loaded_rubric, cases, limits, isolate, args.jobs
    ):
        results[position] = result
        progress.update(result)
        if args.results_dir:
            path = args.results_dir / f"{queue[position].file_stem}.json"
            report.write_json(path, report.results_json(result, extra))
        if args.csv:
            finished = [result for result in results if result is not None]
            report.write_csv(args.csv, finished, loaded_rubric)
        if args.verbose:
            print(report.table(result))

    if results:
        print(report.class_table(results))
    print(batch.summary(results, time.monotonic() - started))
    return results


def _extra_data(fixtures_dir: Path) -> dict:
    manifest_path = Path(fixtures_dir) / fixtures.MANIFEST_NAME
    manifest = fixtures.load_manifest(fixtures_dir)
    return {
        **runner.versions(),
        "torch_of_fixtures": manifest.torch,
        "fixtures_manifest_sha256": hashlib.sha256(manifest_path.read_bytes()).hexdigest(),
    }


if __name__ == "__main__":
    sys.exit(main())
