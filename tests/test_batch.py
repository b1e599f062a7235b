"""Grading a whole class: `grade a b c ... --csv --results-dir --shard --jobs`.

One batch of six submissions (folders and zips, a hostile pair in the middle) is graded
once for the module; the shard tests grade cheap empty submissions; the rest are unit
tests of the batch machinery with a stand-in for the grading of one submission.
"""

import contextlib
import csv
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from conftest import REFERENCE
from mutants import ACTIVATION, MUTANTS, Edit, Mutant, apply

from grader import batch, cli, report, rubric
from grader.errors import ConfigError, GraderError
from grader.runner import ItemResult, SubmissionResult
from grader.sandbox import Limits

RUBRIC = rubric.load()
SCORED = [item.id for item in RUBRIC.items if item.points > 0]
HOSTILE_TIME_LIMIT = 3.0
"""Seconds per item for the whole batch: short, so the looping Tanh costs little, yet long
enough that an honest item never runs out of time on a busy machine."""

TANH_BACKWARD_LOOPS = Mutant(
    "tanh-backward-loops",
    (Edit(ACTIVATION, "return 1 - self.A**2", "while True:\n            pass"),),
    frozenset({"4b"}),
    "Tanh.backward never returns: only 4b may lose, after its own time limit",
)
EXITS_AT_IMPORT = Mutant(
    "exits-at-import",
    (Edit(ACTIVATION, "import numpy as np\n", "import os\n\nimport numpy as np\n\nos._exit(3)\n"),),
    frozenset({"4a", "4b", "4c"}),
    "the worker exits while importing activation.py: at least the activation items are lost",
)
HOSTILE = {TANH_BACKWARD_LOOPS, EXITS_AT_IMPORT}
MUTANT = {mutant.name: mutant for mutant in MUTANTS}

CLASS = [
    ("alice", None, "folder"),
    ("bob", MUTANT["dLdW-transposed"], "folder"),
    ("carol", TANH_BACKWARD_LOOPS, "folder"),
    ("dave", EXITS_AT_IMPORT, "folder"),
    ("erin", MUTANT["sgd-ignores-lr"], "zip"),
]
"""(name, change to the reference or None, how it is handed in), in command-line order."""


def _zip_folder(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted(folder.rglob("*.py")):
            bundle.write(path, f"handin/{path.relative_to(folder)}")
    shutil.rmtree(folder)
    return archive


def _make_class(root: Path) -> list[Path]:
    paths = []
    for name, change, form in CLASS:
        folder = root / name
        if change is None:
            shutil.copytree(REFERENCE, folder, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            apply(change, REFERENCE, folder)
        paths.append(_zip_folder(folder, root / f"{name}.zip") if form == "zip" else folder)
    return paths


def _run(argv: list[str]) -> tuple[int, str, str]:
    """`grade ARGV` in this process; (exit code, stdout, stderr)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = cli.main(argv)
    return code, stdout.getvalue(), stderr.getvalue()


def _rows(csv_path: Path) -> list[dict[str, str]]:
    with open(csv_path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


class ClassRun:
    """The outputs of grading CLASS in one `grade` run."""

    def __init__(self, root: Path):
        self.csv = root / "grades.csv"
        self.results_dir = root / "results"
        paths = _make_class(root / "submissions")
        started = time.monotonic()
        self.code, self.stdout, self.stderr = _run(
            [*map(str, paths), "--csv", str(self.csv), "--results-dir", str(self.results_dir)]
            + ["--time-limit", str(HOSTILE_TIME_LIMIT), "--jobs", "2"]
        )
        self.seconds = time.monotonic() - started
        self.rows = {row["submission"]: row for row in _rows(self.csv)}

    def lost(self, name: str) -> set[str]:
        row = self.rows[name]
        return {item for item in SCORED if float(row[item]) < RUBRIC.item(item).points}


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory) -> ClassRun:
    return ClassRun(tmp_path_factory.mktemp("class"))


# -- one batch with a hostile pair in the middle -------------------------------------------


def test_batch_completes_with_exit_status_0(graded_class):
    assert graded_class.code == 0, graded_class.stderr


@pytest.mark.parametrize(
    "name,change", [(name, change) for name, change, _ in CLASS], ids=[name for name, *_ in CLASS]
)
def test_each_submission_loses_only_its_own_items(graded_class, name, change):
    expected = set(change.loses) if change else set()

    if change in HOSTILE:
        # How much more a hostile submission loses is the sandbox's policy, not the batch's.
        assert graded_class.lost(name) >= expected
    else:
        assert graded_class.lost(name) == expected


@pytest.mark.parametrize("name", ["carol", "dave"])
def test_hostile_submission_costs_only_its_own_time_limits(graded_class, name):
    data = json.loads((graded_class.results_dir / f"{name}.json").read_text())

    budget = len(RUBRIC.items) * HOSTILE_TIME_LIMIT + batch.CHILD_GRACE_SECONDS
    assert data["execution_time"] < budget


def test_csv_header_is_submission_total_items_in_rubric_order_isolation_error(graded_class):
    with open(graded_class.csv, newline="", encoding="utf-8") as stream:
        header = next(csv.reader(stream))

    assert header == [
        "submission",
        "total",
        *[item.id for item in RUBRIC.items],
        "isolation",
        "error",
    ]


def test_csv_has_one_row_per_submission_in_command_line_order(graded_class):
    assert list(graded_class.rows) == [name for name, *_ in CLASS]


def test_csv_total_is_the_sum_of_its_item_columns(graded_class):
    for name, row in graded_class.rows.items():
        items = sum(float(row[item.id]) for item in RUBRIC.items)

        assert float(row["total"]) == pytest.approx(items, abs=0.02), name


def test_every_submission_of_a_batch_gets_the_same_isolation_level(graded_class):
    levels = {row["isolation"] for row in graded_class.rows.values()}

    assert len(levels) == 1 and levels <= {"full", "user", "limits", "process"}


def test_a_zip_is_named_by_its_stem_and_graded_like_a_folder(graded_class):
    assert graded_class.lost("erin") == set(MUTANT["sgd-ignores-lr"].loses)


def test_results_dir_holds_one_valid_results_json_per_submission(graded_class):
    files = sorted(path.name for path in graded_class.results_dir.iterdir())

    assert files == sorted(f"{name}.json" for name, *_ in CLASS)
    for name, row in graded_class.rows.items():
        data = json.loads((graded_class.results_dir / f"{name}.json").read_text())
        assert data["score"] == pytest.approx(float(row["total"])), name


def test_summary_gives_count_mean_median_and_the_items_lost_most_often(graded_class):
    totals = [float(row["total"]) for row in graded_class.rows.values()]
    lost = Counter(item for name in graded_class.rows for item in graded_class.lost(name))
    most = sorted(lost.items(), key=lambda pair: (-pair[1], SCORED.index(pair[0])))[:5]

    summary = graded_class.stdout.strip().splitlines()[-1]

    assert summary.startswith(f"{len(CLASS)} graded in ")
    assert f"mean {statistics.fmean(totals):.2f}, median {statistics.median(totals):g} of 35" in (
        summary
    )
    assert summary.endswith(
        "items lost most often: " + ", ".join(f"{item} ({count})" for item, count in most)
    )


def test_progress_is_one_plain_line_per_submission_off_a_terminal(graded_class):
    lines = [line for line in graded_class.stderr.splitlines() if line.startswith("[")]

    assert [line.split("]")[0] for line in lines] == [
        f"[{done}/{len(CLASS)}" for done in range(1, len(CLASS) + 1)
    ]


def test_grading_a_batch_never_imports_torch(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    command = [sys.executable, "-X", "importtime", "-m", "grader.cli"]

    done = subprocess.run(
        [*command, str(tmp_path / "a"), str(tmp_path / "b"), "--shard", "0/2"],
        capture_output=True,
        text=True,
    )

    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert (done.returncode, "numpy" in imported, "torch" in imported) == (0, True, False)


# -- --shard K/N ---------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, 3, 7, 12])
def test_shards_cover_every_submission_exactly_once(count):
    paths = [Path(f"submissions/student{index:02d}") for index in range(10)]

    shards = [batch.Shard(index, count).select(paths) for index in range(count)]

    chosen = [path for shard in shards for path in shard]
    assert sorted(chosen) == sorted(paths) and len(chosen) == len(paths)


def test_a_shard_does_not_depend_on_the_order_of_the_command_line():
    paths = [Path(f"s{index}.zip") for index in range(9)]
    shuffled = random.Random(0).sample(paths, len(paths))

    assert batch.Shard(1, 4).select(shuffled) == batch.Shard(1, 4).select(paths)


@pytest.mark.parametrize("text", ["3/3", "1", "a/b", "-1/2", "0/0"])
def test_bad_shard_is_a_config_error_that_shows_the_form(text):
    with pytest.raises(ConfigError, match="--shard"):
        batch.Shard.parse(text)


def test_shard_runs_together_grade_every_submission_exactly_once(monkeypatch, tmp_path):
    monkeypatch.setattr(batch, "grade_one", _fake_grade_one)
    paths = []
    for index in range(7):
        paths.append(tmp_path / (f"student{index}.zip" if index % 2 else f"student{index}"))
        paths[-1].mkdir()

    names = []
    for shard in ("0/3", "1/3", "2/3"):
        gradebook = tmp_path / f"shard-{shard[0]}.csv"
        code, _, stderr = _run([*map(str, paths), "--shard", shard, "--csv", str(gradebook)])
        assert code == 0, stderr
        names += [row["submission"] for row in _rows(gradebook)]

    assert sorted(names) == sorted(f"student{index}" for index in range(7))


def test_an_empty_shard_writes_only_the_csv_header(tmp_path):
    paths = [tmp_path / "only", tmp_path / "two"]
    for path in paths:
        path.mkdir()
    gradebook = tmp_path / "grades.csv"

    code, stdout, _ = _run([*map(str, paths), "--shard", "2/3", "--csv", str(gradebook)])

    assert (code, _rows(gradebook), stdout.strip()) == (0, [], "no submissions graded")


# -- naming and checking the submissions of a batch ----------------------------------------


def test_names_are_the_folder_or_zip_stem_or_the_path_where_ambiguous():
    paths = [Path("x/alice"), Path("y/alice.zip"), Path("y/bob"), Path("z/carol.zip")]

    assert batch.submission_names(paths) == ["x/alice", "y/alice.zip", "bob", "carol"]


def test_a_missing_submission_stops_the_batch_before_grading(tmp_path):
    present = tmp_path / "present"
    present.mkdir()

    code, stdout, stderr = _run([str(present), str(tmp_path / "absent"), "--csv", "g.csv"])

    assert (code, stdout, stderr.startswith("Error: ")) == (2, "", True)


def test_the_same_path_twice_is_graded_once():
    queue = batch.plan([REFERENCE, REFERENCE / ".." / "reference", REFERENCE])

    assert [entry.path for entry in queue] == [REFERENCE]


def test_file_names_are_safe_and_unique():
    names = ["a b", "a_b", "../x", "=1+1", ""]

    assert report.unique_names(names) == ["a_b", "a_b-2", "_x", "_1_1", "submission"]


def test_csv_quotes_cells_a_spreadsheet_would_evaluate(tmp_path):
    result = _fake_result("=HYPERLINK(1)", 35.0)
    result.problems = ["-not a formula"]
    gradebook = tmp_path / "grades.csv"

    report.write_csv(gradebook, [result], RUBRIC)

    row = _rows(gradebook)[0]
    assert (row["submission"], row["error"]) == ("'=HYPERLINK(1)", "'-not a formula")


# -- the forked grading processes ----------------------------------------------------------


def _fake_result(name: str, score: float) -> SubmissionResult:
    share = score / RUBRIC.total
    items = [
        ItemResult(item, round(item.points * share, 2), int(share == 1), 1) for item in RUBRIC.items
    ]
    return SubmissionResult(name, items, {"level": "full"}, 0.01)


def _fake_grade_one(path, rubric, cases, limits, isolate):
    """Stands for the grading of one submission; the folder's name says how it behaves."""
    behaviour = Path(path).name
    if behaviour == "dies":
        os._exit(9)
    if behaviour == "hangs":
        time.sleep(600)
    if behaviour == "grader-bug":
        raise ValueError("a bug in the grader")
    if behaviour == "bad-rubric":
        raise ConfigError("rubric.toml: items[0].points must be a number")
    return _fake_result(behaviour, 35.0)


def _queue(tmp_path: Path, behaviours: list[str]) -> list[batch.Queued]:
    for behaviour in behaviours:
        (tmp_path / behaviour).mkdir(exist_ok=True)
    return batch.plan([tmp_path / behaviour for behaviour in behaviours])


def _grade_fakes(monkeypatch, tmp_path, behaviours, rubric=RUBRIC, jobs=2):
    monkeypatch.setattr(batch, "grade_one", _fake_grade_one)
    queue = _queue(tmp_path, behaviours)
    graded = dict(batch.grade_many(queue, rubric, {}, Limits(), False, jobs))
    return [graded[position] for position in range(len(queue))]


def test_a_grading_process_that_dies_costs_only_its_own_submission(monkeypatch, tmp_path):
    results = _grade_fakes(monkeypatch, tmp_path, ["ok1", "dies", "ok2"])

    assert [result.score for result in results] == [35, 0, 35]
    assert "ended without a result (exit status 9)" in results[1].problems[0]


def test_a_grading_process_past_its_budget_is_stopped(monkeypatch, tmp_path):
    monkeypatch.setattr(batch, "CHILD_GRACE_SECONDS", 0.5)
    monkeypatch.setattr(batch, "START_SECONDS", 0.0)
    quick = rubric.with_time_limit(RUBRIC, 0.01)

    results = _grade_fakes(monkeypatch, tmp_path, ["hangs", "ok"], rubric=quick)

    assert [result.score for result in results] == [0, 35]
    assert "took longer than" in results[0].problems[0]


def test_a_grader_bug_on_one_submission_is_that_submissions_error(monkeypatch, tmp_path):
    results = _grade_fakes(monkeypatch, tmp_path, ["grader-bug", "ok"])

    assert [result.score for result in results] == [0, 35]
    assert "ValueError: a bug in the grader" in results[0].problems[0]


def test_a_config_error_in_a_child_stops_the_batch(monkeypatch, tmp_path):
    with pytest.raises(GraderError, match="rubric.toml"):
        _grade_fakes(monkeypatch, tmp_path, ["bad-rubric", "ok"], jobs=1)


def test_results_come_back_in_queue_order_whatever_order_they_finish(monkeypatch, tmp_path):
    results = _grade_fakes(monkeypatch, tmp_path, [f"s{index}" for index in range(5)], jobs=3)

    assert [result.name for result in results] == [f"s{index}" for index in range(5)]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_is_a_bar_with_a_count_and_an_estimate():
    stream = _Terminal()
    progress = batch.Progress(4, stream)

    progress.update(_fake_result("a", 35))

    assert "1/4" in stream.getvalue() and "left" in stream.getvalue()


def test_interrupted_batch_keeps_the_gradebook_of_what_it_finished(tmp_path, monkeypatch):
    folders = []
    for name in ("first", "second"):
        folders.append(tmp_path / name)
        shutil.copytree(REFERENCE, folders[-1])
    real_grade_many = batch.grade_many

    def interrupted_after_one(*args, **kwargs):
        for finished in real_grade_many(*args, **kwargs):
            yield finished
            raise KeyboardInterrupt

    monkeypatch.setattr(batch, "grade_many", interrupted_after_one)
    gradebook = tmp_path / "grades.csv"

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = cli.main([*map(str, folders), "--csv", str(gradebook), "--jobs", "1"])

    rows = list(csv.DictReader(gradebook.open()))
    assert (code, [row["total"] for row in rows]) == (130, ["35"])
