"""The `grade` command's contract: full marks for the reference, zero for the template,
Gradescope's results.json, and `Error: ...` only for the instructor's mistakes."""

import shutil
import zipfile

import pytest
from conftest import REFERENCE, REPO, TEMPLATE

from grader import cli


def test_reference_scores_35_of_35(grade):
    graded = grade(REFERENCE)

    assert (graded.exit_code, graded.total) == (0, 35)


def test_template_scores_0_and_says_not_implemented(grade):
    graded = grade(TEMPLATE)

    assert graded.total == 0
    assert all("NotImplementedError" in output for output in graded.outputs.values())


def test_bundled_example_loses_only_its_two_bugs(grade):
    graded = grade(REPO / "examples" / "submission")

    assert graded.lost() == {"2d", "4b"}


def test_results_json_has_gradescope_fields(grade):
    graded = grade(REFERENCE)

    data = graded.data
    assert set(data) >= {"score", "execution_time", "tests", "extra_data"}
    assert [test["number"] for test in data["tests"]] == [
        "1a", "1b", "1c", "2a", "2b", "2c", "2d", "3", "4a", "4b", "4c", "5a", "5b", "5c", "6"
    ]  # fmt: skip
    for test in data["tests"]:
        assert set(test) >= {"number", "name", "score", "max_score", "output", "visibility"}
    assert set(data["extra_data"]) >= {"grader", "numpy", "fixtures_manifest_sha256"}


def test_same_submission_same_result(grade):
    first, second = grade(REPO / "examples" / "submission"), grade(REPO / "examples" / "submission")

    def without_times(data):
        return {key: value for key, value in data.items() if key != "execution_time"}

    assert without_times(first.data) == without_times(second.data)


def test_submission_nested_in_zip_with_macosx_junk_scores_35(grade, tmp_path):
    archive = tmp_path / "hw1.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in REFERENCE.rglob("*.py"):
            relative = path.relative_to(REFERENCE)
            bundle.write(path, f"handin/HW1/{relative}")
            junk = relative.with_name(f"._{relative.name}")
            bundle.writestr(f"__MACOSX/handin/HW1/{junk}", b"\x00\x05junk")
        bundle.writestr("handin/notes.txt", "my notes")

    assert grade(archive).total == 35


def test_nested_folder_with_a_deeper_stale_copy_uses_the_shallowest(grade, tmp_path):
    root = tmp_path / "student"
    shutil.copytree(REFERENCE, root / "hw1")
    shutil.copytree(TEMPLATE, root / "hw1" / "old" / "attempt", ignore=_only_python)

    assert grade(root).total == 35


def test_missing_models_package_costs_only_the_mlp_items(grade, tmp_path):
    root = tmp_path / "student"
    shutil.copytree(REFERENCE / "mytorch", root / "mytorch")

    graded = grade(root)

    assert graded.lost() == {"5a", "5b", "5c"}
    assert "no models/ folder" in graded.data["output"]


def test_grading_leaves_the_submission_untouched(grade, tmp_path):
    root = tmp_path / "student"
    shutil.copytree(REFERENCE, root)
    before = {path: path.read_bytes() for path in root.rglob("*") if path.is_file()}

    grade(root)

    after = {path: path.read_bytes() for path in root.rglob("*") if path.is_file()}
    assert after == before


def test_unreadable_zip_scores_zero_without_an_error(grade, tmp_path):
    archive = tmp_path / "broken.zip"
    archive.write_bytes(b"PK\x03\x04 this is not really a zip")

    graded = grade(archive)

    assert (graded.exit_code, graded.total) == (0, 0)


@pytest.mark.parametrize(
    "argv,message",
    [
        (["does/not/exist"], "no such file or folder"),
        (["reference", "--rubric", "missing.toml"], "no such rubric file"),
        (["reference", "--fixtures", "nowhere"], "missing; run `grade fixtures regenerate`"),
    ],
    ids=["missing-submission", "missing-rubric", "missing-fixtures"],
)
def test_instructor_mistakes_print_error_and_exit_2(argv, message, capsys, monkeypatch):
    monkeypatch.chdir(REPO)

    code = cli.main(argv)

    error = capsys.readouterr().err
    assert (code, error.startswith("Error: "), message in error) == (2, True, True)


def test_bad_rubric_field_names_the_file_and_field(tmp_path, capsys):
    rubric = tmp_path / "rubric.toml"
    text = (REPO / "grader" / "rubric.toml").read_text().replace("points = 4", "points = 'four'", 1)
    rubric.write_text(text)

    code = cli.main([str(REFERENCE), "--rubric", str(rubric)])

    error = capsys.readouterr().err
    assert code == 2 and "rubric.toml: items[" in error and ".points" in error


def _only_python(directory, names):
    return [name for name in names if name.endswith(".npz") or name.endswith(".ipynb")]


def _without_init_files(tmp_path, mlp_imports: str):
    root = tmp_path / "student"
    shutil.copytree(REFERENCE, root)
    for init in root.rglob("__init__.py"):
        init.unlink()
    mlp = root / "models" / "mlp.py"
    mlp.write_text(
        mlp.read_text().replace("from mytorch.nn import Identity, Linear, ReLU", mlp_imports)
    )
    return root


def test_packages_without_init_files_are_graded_in_full(grade, tmp_path):
    imports = (
        "from mytorch.nn.activation import Identity, ReLU\nfrom mytorch.nn.linear import Linear"
    )

    assert grade(_without_init_files(tmp_path, imports)).total == 35


def test_import_error_in_mlp_file_is_named_with_its_cause(grade, tmp_path):
    root = _without_init_files(tmp_path, "from mytorch.nn import Identity, Linear, ReLU")

    graded = grade(root)

    assert graded.lost() == {"5a", "5b", "5c"}
    assert "models/mlp.py could not be imported: ImportError" in graded.outputs["5b"]
