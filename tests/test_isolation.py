"""Issue 3: a hostile submission earns exactly what its own arithmetic earns, the grader
always finishes and writes a valid results file, and nothing of the worker is left behind.

The attacks (tests/hostile.py) are graded in one batch per isolation level, two at a
time, and then checked one by one; the attacks that need the grader's own command line
(to find its results path) or another user run `grade` in a subprocess. Each test names
the row of the issue's table it pins.
"""

import contextlib
import glob
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import hostile
import pytest
from hostile import (
    ACTIVATION,
    INIT,
    LOSS,
    MODELS_INIT,
    TEMPLATE,
    WRONG_TANH_DERIVATIVE,
    Edit,
    at_import,
    build,
    in_tanh_backward,
    in_tanh_forward,
)

from grader import cli, rubric
from grader.sandbox import Limits
from grader.session import REFUSED_CALLBACK

RUBRIC = rubric.load()
SCORED = {item.id: item.points for item in RUBRIC.items if item.points > 0}
GRADE = [sys.executable, "-m", "grader.cli"]
TIME_LIMIT = 4.0
MIB = 1 << 20
IS_ROOT = os.geteuid() == 0
SLEEP_MARKER = f"600.{secrets.randbelow(10**6):06d}"
"""The argument of the `sleep` children a hostile submission forks: unique to this run."""

ACTIVATIONS = {"4a", "4b", "4c"}
WORKER_ENVIRONMENT = {
    *("PATH", "HOME", "TMPDIR", "LANG", "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE"),
    *("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"),
}
"""All the worker's environment holds: nothing of the grader's."""

ATTACKS = {
    # name: (edits, base folder, items that must lose points)
    "wrong-tanh": ((WRONG_TANH_DERIVATIVE,), hostile.REFERENCE, {"4b"}),
    "patches-numpy": ((at_import(INIT, hostile.PATCH_NUMPY),), hostile.REFERENCE, set()),
    "patches-numpy-wrong-tanh": (
        (at_import(INIT, hostile.PATCH_NUMPY), WRONG_TANH_DERIVATIVE),
        hostile.REFERENCE,
        {"4b"},
    ),
    "liar-subclass-wrong-values": (hostile.liar_returns(0.5), hostile.REFERENCE, {"4b"}),
    "liar-subclass-right-values": (hostile.liar_returns(0.0), hostile.REFERENCE, set()),
    "sys-exit-at-import": (
        (at_import(ACTIVATION, hostile.EXIT_CALLS["sys.exit"]),),
        hostile.REFERENCE,
        ACTIVATIONS,
    ),
    "os-exit-at-import": (
        (at_import(ACTIVATION, hostile.EXIT_CALLS["os._exit"]),),
        hostile.REFERENCE,
        ACTIVATIONS,
    ),
    "sys-exit-in-method": (
        (in_tanh_backward(hostile.EXIT_CALLS["sys.exit"]),),
        hostile.REFERENCE,
        {"4b"},
    ),
    "os-exit-in-method": (
        (in_tanh_backward(hostile.EXIT_CALLS["os._exit"]),),
        hostile.REFERENCE,
        {"4b"},
    ),
    "loops-forever": ((in_tanh_backward(hostile.LOOP_FOREVER),), hostile.REFERENCE, {"4b"}),
    "allocates-12-gb": ((in_tanh_forward(hostile.ALLOCATE_12_GB),), hostile.REFERENCE, {"4b"}),
    "forks-64-sleepers": (
        (in_tanh_forward(hostile.FORK_64_SLEEPERS.format(marker=SLEEP_MARKER)),),
        hostile.REFERENCE,
        set(),
    ),
    "kills-its-parent": ((in_tanh_forward(hostile.KILL_PARENT),), hostile.REFERENCE, set()),
    "looks-around": ((in_tanh_forward(hostile.LOOK_AROUND),), hostile.REFERENCE, set()),
    "fills-the-disk": ((in_tanh_forward(hostile.FILL_THE_DISK),), hostile.REFERENCE, set()),
    "prints-200-mb": ((in_tanh_forward(hostile.PRINT_200_MB),), hostile.REFERENCE, set()),
    "raises-8-mb-errors": ((in_tanh_forward(hostile.HUGE_ERROR),), hostile.REFERENCE, {"4b"}),
    "imports-torch-at-top": (
        (at_import(ACTIVATION, "import torch"),),
        hostile.REFERENCE,
        ACTIVATIONS,
    ),
    "imports-torch-in-method": (
        (in_tanh_backward("import torch"),),
        hostile.REFERENCE,
        {"4b"},
    ),
    "syntax-error-in-loss": (
        (Edit(LOSS, "class CrossEntropyLoss:", "class CrossEntropyLoss"),),
        hostile.REFERENCE,
        {"2a", "2b", "2c", "2d"},
    ),
    "searches-the-disk": (
        (
            at_import(INIT, hostile.SEARCH_DISK),
            at_import(MODELS_INIT, hostile.SEARCH_DISK_MODELS),
        ),
        TEMPLATE,
        set(SCORED),
    ),
    "stand-in-oracle": ((Edit(ACTIVATION, "", hostile.STAND_IN_ORACLE),), TEMPLATE, set(SCORED)),
}


class Batch:
    """Every attack graded in one `grade --results-dir` run, at one isolation level."""

    def __init__(self, root: Path, names: list[str], *options: str, switches: str = ""):
        folders = []
        for name in names:
            edits, base, _ = ATTACKS[name]
            folders.append(build(root / "submissions" / name, *edits, base=base))
        self.results_dir = root / "results"
        argv = [*map(str, folders), "--results-dir", str(self.results_dir), *options]
        argv += ["--time-limit", str(TIME_LIMIT), "--jobs", "2"]

        started = time.monotonic()
        with _environment(GRADER_SANDBOX=switches), _captured() as (stdout, stderr):
            self.code = cli.main(argv)
        self.seconds = time.monotonic() - started
        self.stdout, self.stderr = stdout.getvalue(), stderr.getvalue()

    def results(self, name: str) -> dict:
        return json.loads((self.results_dir / f"{name}.json").read_text())

    def lost(self, name: str) -> set[str]:
        return _lost(self.results(name))

    def test(self, name: str, item: str) -> dict:
        return next(test for test in self.results(name)["tests"] if test["number"] == item)

    def output(self, name: str, item: str) -> str:
        return self.test(name, item)["output"]


@pytest.fixture(scope="module")
def full(tmp_path_factory) -> Batch:
    """All the attacks at the best level this machine gives (full, when root with bwrap)."""
    return Batch(tmp_path_factory.mktemp("full"), list(ATTACKS))


@pytest.fixture(scope="module")
def unisolated(tmp_path_factory) -> Batch:
    """The attacks that show what isolation is for, graded with `--no-isolation`."""
    names = ["searches-the-disk", "forks-64-sleepers"]
    return Batch(tmp_path_factory.mktemp("unisolated"), names, "--no-isolation")


# -- every attack costs exactly its own items ----------------------------------------------


def test_batch_of_attacks_completes_with_exit_status_0(full):
    assert full.code == 0, full.stderr


@pytest.mark.parametrize("name", [name for name in ATTACKS if name != "searches-the-disk"])
def test_attack_loses_exactly_its_own_items(full, name):
    assert full.lost(name) == ATTACKS[name][2], _explain(full.results(name))


def test_isolation_level_is_full_when_root_with_bubblewrap(full):
    isolation = full.results("patches-numpy")["extra_data"]["isolation"]

    if not IS_ROOT or shutil.which("bwrap") is None:
        pytest.skip("full isolation needs root and bubblewrap")
    assert isolation["level"] == "full", isolation["notes"]


# -- rows of the table ------------------------------------------------------------


def test_numpy_patched_to_lie_changes_nothing_the_grader_compares(full):
    lying_but_right = full.results("patches-numpy")["score"]
    lying_and_wrong = full.results("patches-numpy-wrong-tanh")["score"]

    assert (lying_but_right, lying_and_wrong) == (35, full.results("wrong-tanh")["score"])


def test_hanging_method_costs_its_time_limit_once(full):
    execution_time = full.results("loops-forever")["execution_time"]

    assert execution_time < 3 * TIME_LIMIT + 10, f"took {execution_time:.1f} s"


def test_12_gb_allocation_fails_in_the_worker_with_memory_error(full):
    assert "MemoryError" in full.output("allocates-12-gb", "4b")


def test_forking_is_refused_in_the_worker(full):
    if full.results("forks-64-sleepers")["extra_data"]["isolation"]["level"] == "process":
        pytest.skip("no resource limits here")

    assert "forked 0 children" in full.output("forks-64-sleepers", "4b")


def test_no_forked_child_survives_the_run(full, unisolated):
    assert "forked 64 children" in unisolated.output("forks-64-sleepers", "4b")
    assert _processes_with_argument(SLEEP_MARKER) == []


def test_killing_its_parent_costs_nothing_and_the_grader_reports(full):
    assert full.results("kills-its-parent")["score"] == 35


@pytest.mark.parametrize("name", ["prints-200-mb", "raises-8-mb-errors"])
def test_flood_is_truncated_and_results_stay_under_1_mib(full, name):
    size = (full.results_dir / f"{name}.json").stat().st_size

    assert size < MIB, f"results.json of {size} bytes"


def test_flooded_output_says_how_much_was_cut(full):
    assert "bytes printed; only the first" in full.output("prints-200-mb", "4b")


def test_torch_import_names_file_and_line(full):
    line = _line_of(ACTIVATION, "import torch", "imports-torch-at-top", full)

    expected = (
        f"mytorch/nn/activation.py:{line} imports torch, which this assignment does not allow"
    )
    assert all(expected in full.output("imports-torch-at-top", item) for item in ACTIVATIONS)


def test_torch_import_inside_a_method_names_file_and_line(full):
    line = _line_of(ACTIVATION, "import torch", "imports-torch-in-method", full)

    assert f"mytorch/nn/activation.py:{line} imports torch" in full.output(
        "imports-torch-in-method", "4b"
    )


def test_syntax_error_names_file_and_line(full):
    line = _line_of(LOSS, "class CrossEntropyLoss\n", "syntax-error-in-loss", full)

    assert f"mytorch/nn/loss.py:{line}" in full.output("syntax-error-in-loss", "2a")


def test_disk_search_finds_a_solution_without_isolation(unisolated):
    """The control for the next test: the search works when the disk is visible."""
    assert unisolated.results("searches-the-disk")["score"] > 0


def test_disk_search_finds_nothing_behind_namespaces(full):
    if not full.results("searches-the-disk")["extra_data"]["isolation"]["namespaces"]:
        pytest.skip("no namespaces here: the worker sees the disk (docs/isolation.md)")

    assert full.results("searches-the-disk")["score"] == 0


def test_stand_ins_are_no_oracle_for_student_code(full):
    tanh = full.test("stand-in-oracle", "4b")

    assert tanh["score"] == 0 and REFUSED_CALLBACK in tanh["output"]


def test_worker_sees_an_empty_environment_and_home(full):
    seen = _looked(full)
    environment = set(seen["environment"]) - {"PWD"}  # bubblewrap's --chdir sets PWD

    assert (environment, seen["home"]) == (WORKER_ENVIRONMENT, [])


def test_worker_runs_under_a_uid_of_its_own(full):
    isolation = full.results("looks-around")["extra_data"]["isolation"]
    if not isolation["unprivileged_user"]:
        pytest.skip("no user switch here")

    assert _looked(full)["uid"] == isolation["worker_uid"] >= 64000


def test_worker_has_no_network_and_sees_only_its_sandbox_processes(full):
    if not full.results("looks-around")["extra_data"]["isolation"]["namespaces"]:
        pytest.skip("no namespaces here")
    seen = _looked(full)

    assert seen["interfaces"] == ["lo"] and seen["network"] != "connected"
    assert seen["processes"] <= 3, "the sandbox's init, the template and the worker"


def test_worker_cannot_fill_the_disk(full):
    if not full.results("fills-the-disk")["extra_data"]["isolation"]["namespaces"]:
        pytest.skip("no namespaces here: the worker writes to disk (docs/isolation.md)")
    written = int(full.output("fills-the-disk", "4b").split("wrote ")[1].split()[0])

    assert written <= 3 * Limits().scratch_bytes >> 20


# -- forged results, stray files, other users ----------------------------------------------


@pytest.fixture
def shared_dir():
    """A folder every user may use (for `grade` run as another user); removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="isolation-test-"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("switches", ["", "nobwrap"], ids=["best", "user"])
def test_forged_results_lose_to_the_graders_own_file(shared_dir, switches):
    grader = _grader_reaching({"full", "user"}, switches)
    token = secrets.token_hex(6)
    submission = build(
        shared_dir / "forger",
        at_import(INIT, hostile.forge_results(token)),
        WRONG_TANH_DERIVATIVE,
    )
    results_dir = shared_dir / "out"
    results_dir.mkdir(mode=0o777)
    results_dir.chmod(0o1777)
    results = results_dir / "results.json"

    done = _grade_subprocess(submission, results, grader, GRADER_SANDBOX=switches)

    assert done.returncode == 0, done.stderr
    data = json.loads(results.read_text())
    assert ("forged" in data["output"], _lost(data)) == (False, {"4b"})
    assert not (results_dir / "results.json.victim").exists()
    assert _stray_files(token) == []


@pytest.mark.skipif(not IS_ROOT, reason="runs `grade` as another user")
@pytest.mark.parametrize("switches", ["", "nobwrap"], ids=["any-namespaces", "no-namespaces"])
def test_grade_as_an_ordinary_user_warns_and_scores_right(shared_dir, switches):
    token = secrets.token_hex(6)
    attack = hostile.lock_away_files(token) + hostile.KILL_PARENT
    submission = build(shared_dir / "killer", in_tanh_forward(attack))
    results = shared_dir / "results.json"

    done = _grade_subprocess(
        submission, results, _grader_for(65534), user=65534, GRADER_SANDBOX=switches
    )

    assert done.returncode == 0, done.stderr
    data = json.loads(results.read_text())
    isolation = data["extra_data"]["isolation"]
    assert _lost(data) <= {"4b"}  # a worker of the grader's own uid can kill its template
    assert isolation["unprivileged_user"] is False and isolation["resource_limits"] is True
    assert "not root" in " ".join(isolation["notes"])
    assert f"isolation level {isolation['level']!r}, not 'full'" in done.stderr
    assert glob.glob(f"{tempfile.gettempdir()}/mytorch-grade-*/*/{token}") == []


def test_bubblewrap_that_refuses_falls_back_with_a_warning(shared_dir):
    fake_bin = shared_dir / "bin"
    fake_bin.mkdir()
    refusing = fake_bin / "bwrap"
    refusing.write_text(
        "#!/bin/sh\necho 'bwrap: Creating new namespace failed: Operation not permitted' >&2\n"
        "exit 1\n"
    )
    refusing.chmod(0o755)
    results = shared_dir / "results.json"

    done = _grade_subprocess(
        hostile.REFERENCE, results, PATH=f"{fake_bin}{os.pathsep}{os.environ['PATH']}"
    )

    data = json.loads(results.read_text())
    isolation = data["extra_data"]["isolation"]
    assert (done.returncode, data["score"]) == (0, 35)
    assert not isolation["namespaces"] and "bubblewrap refused" in " ".join(isolation["notes"])
    assert "Operation not permitted" in done.stderr


# -- helpers ------------------------------------------------------------------------------


PLANNED_LEVEL = """
import tempfile
from pathlib import Path
from grader.sandbox import Sandbox
with tempfile.TemporaryDirectory() as empty:
    sandbox = Sandbox(Path(empty))
    sandbox.cleanup()
print(sandbox.isolation.level)
"""


def _grade_subprocess(submission: Path, results: Path, grader=None, user=None, **variables):
    """`grade SUBMISSION --results RESULTS` in a new process (of `grader`, as `user`)."""
    command, path = grader or (GRADE, None)
    environment = {**os.environ, **variables, "HOME": str(results.parent)}
    if path is not None:
        environment["PYTHONPATH"] = path
    if user is not None:
        command = _as_user(user) + command
    command = [*command, str(submission), "--results", str(results), "--time-limit", "5"]
    return subprocess.run(
        command, capture_output=True, text=True, env=environment, timeout=120, cwd=results.parent
    )


def _as_user(user: int) -> list[str]:
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--"]


def _pythons() -> list[tuple[str, str | None]]:
    """Pythons that can run the grader, with the PYTHONPATH each needs: this one, and the
    system's of the same version (this one may live where only root can read, as pyenv's
    do under /root, which keeps the worker's uid from reading it)."""
    site_packages = [folder for folder in sys.path if folder.endswith("site-packages")]
    path = os.pathsep.join([str(hostile.REPO), *site_packages])
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return [(sys.executable, None), (f"/usr/bin/python{version}", path)]


def _grader_for(user: int) -> tuple[list[str], str | None]:
    """A `grade` command that `user` can run, and its PYTHONPATH."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    check = "import os, sys, grader.cli; os.stat(os.path.realpath(sys.executable))"
    for python, path in _pythons():
        probe = _as_user(user) + [python, "-c", check + "; print(sys.version)"]
        environment = {"PYTHONPATH": path} if path else {}
        done = subprocess.run(probe, capture_output=True, text=True, env=environment)
        if done.returncode == 0 and done.stdout.startswith(f"{version}."):
            return [python, "-m", "grader.cli"], path
    pytest.skip(f"no Python {version} that uid {user} can run")


def _grader_reaching(levels: set[str], switches: str) -> tuple[list[str], str | None]:
    """A `grade` command (and its PYTHONPATH) whose sandbox reaches one of `levels` here
    with GRADER_SANDBOX=`switches`: a worker may not run hostile code below them."""
    reached = []
    for python, path in _pythons():
        environment = {**os.environ, "GRADER_SANDBOX": switches}
        if path is not None:
            environment["PYTHONPATH"] = path
        done = subprocess.run(
            [python, "-c", PLANNED_LEVEL], capture_output=True, text=True, env=environment
        )
        reached.append(done.stdout.strip() or "none")
        if reached[-1] in levels:
            return [python, "-m", "grader.cli"], path
    pytest.skip(f"levels reached here: {', '.join(reached)}; a worker there may write anywhere")


def _lost(data: dict) -> set[str]:
    return {test["number"] for test in data["tests"] if test["score"] < test["max_score"]}


def _explain(data: dict) -> str:
    return "\n".join(
        f"{test['number']}: {test['score']}/{test['max_score']}\n{test['output'][:600]}"
        for test in data["tests"]
        if test["score"] < test["max_score"]
    )


def _line_of(path: str, text: str, name: str, batch: Batch) -> int:
    """The line of `text` in the graded copy of attack `name`."""
    source = (batch.results_dir.parent / "submissions" / name / path).read_text()
    return source[: source.index(text)].count("\n") + 1


def _looked(batch: Batch) -> dict:
    """What the looks-around attack reported seeing."""
    line = next(
        line
        for line in batch.output("looks-around", "4b").splitlines()
        if line.startswith("LOOKED ")
    )
    return json.loads(line.removeprefix("LOOKED "))


def _processes_with_argument(argument: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as stream:
                arguments = stream.read().split(b"\0")
        except OSError:
            continue
        if argument.encode() in arguments:
            found.append(int(entry))
    return found


def _stray_files(token: str) -> list[str]:
    """The forger's marked files wherever a worker could have left them."""
    folders = ["/tmp", "/var/tmp", "/dev/shm", "/autograder", "/autograder/results"]
    return [
        str(Path(folder) / f"forged-{token}.json")
        for folder in folders
        if (Path(folder) / f"forged-{token}.json").exists()
    ]


@contextlib.contextmanager
def _environment(**variables):
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _captured():
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        yield stdout, stderr
