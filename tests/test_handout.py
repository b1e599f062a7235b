"""The students' handout zip: the skeleton, testerData.npz, the notebooks and a README, and
nothing of the solution: no function body of the reference, no fixture, no expectation."""

import ast
import hashlib
import io
import shutil
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest

from grader import cli, handout, notebooks

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "reference"
TEMPLATE = REPO / "student_template"
TESTER_DATA_KEYS = ["W", "b", "X", "Y", "dLdZ"]
MIN_STATEMENT_CHARS = 16
"""Reference statements shorter than this (`return A`) are too common to count as a leak."""


@pytest.fixture(scope="module")
def handout_zip(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("handout") / "handout.zip"
    assert handout.main(["--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def members(handout_zip) -> dict[str, bytes]:
    """The handout's files, by name without the leading "handout/"."""
    with zipfile.ZipFile(handout_zip) as archive:
        return {
            name.removeprefix(f"{handout.FOLDER}/"): archive.read(name)
            for name in archive.namelist()
        }


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [
        node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def _without_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    first = body[0]
    is_docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
    return body[1:] if is_docstring and isinstance(first.value.value, str) else body


def _code_of(name: str, data: bytes) -> list[ast.Module]:
    """The parsed code of a handout file: a .py file, or each code cell of a notebook."""
    if name.endswith(".py"):
        return [ast.parse(data)]
    if name.endswith(".ipynb"):
        notebook = nbformat.reads(data.decode(), as_version=4)
        return [
            ast.parse(
                "\n".join(line for line in cell.source.splitlines() if not line.startswith("%"))
            )
            for cell in notebook.cells
            if cell.cell_type == "code"
        ]
    return []


def test_handout_holds_the_skeleton_data_notebooks_and_readme_only(members):
    skeleton = {
        path.relative_to(TEMPLATE).as_posix()
        for package in handout.PACKAGES
        for path in (TEMPLATE / package).rglob("*.py")
    }
    notebook_files = {f"{name}.ipynb" for name in notebooks.NOTEBOOKS}

    assert set(members) == skeleton | notebook_files | {"testerData.npz", "README.md"}


def test_every_function_in_the_handout_is_a_docstring_and_raise_not_implemented(members):
    not_stubs = [
        f"{name}::{function.name}"
        for name, data in members.items()
        if name.endswith(".py")
        for function in _functions(ast.parse(data))
        if ast.dump(ast.Module(_without_docstring(function.body), []))
        != ast.dump(ast.parse("raise NotImplementedError"))
    ]

    assert not_stubs == []


def test_no_statement_of_a_reference_function_is_anywhere_in_the_handout(members):
    reference_statements = {
        ast.dump(statement): f"{path.relative_to(REFERENCE)}::{function.name}"
        for path in REFERENCE.rglob("*.py")
        for function in _functions(ast.parse(path.read_bytes()))
        for top in _without_docstring(function.body)
        for statement in ast.walk(top)
        if isinstance(statement, ast.stmt) and len(ast.unparse(statement)) >= MIN_STATEMENT_CHARS
    }

    leaked = {
        f"{name}: {ast.unparse(statement)}  (from {reference_statements[ast.dump(statement)]})"
        for name, data in members.items()
        for module in _code_of(name, data)
        for statement in ast.walk(module)
        if isinstance(statement, ast.stmt) and ast.dump(statement) in reference_statements
    }
    assert leaked == set()


def test_notebooks_in_the_handout_have_no_outputs(members):
    outputs = [
        (name, cell.id)
        for name, data in members.items()
        if name.endswith(".ipynb")
        for cell in nbformat.reads(data.decode(), as_version=4).cells
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]

    assert outputs == []


def test_handout_data_is_tester_data_alone_and_no_fixture(members):
    fixture_digests = {
        hashlib.sha256(path.read_bytes()).hexdigest() for path in (REPO / "fixtures").iterdir()
    }

    with np.load(io.BytesIO(members["testerData.npz"]), allow_pickle=False) as data:
        keys = list(data.files)
    assert keys == TESTER_DATA_KEYS
    assert [name for name in members if name.endswith((".npz", ".npy", ".json"))] == [
        "testerData.npz"
    ]
    shipped = {hashlib.sha256(data).hexdigest() for data in members.values()}
    assert shipped & fixture_digests == set()


def test_handout_is_the_same_bytes_every_time(handout_zip, tmp_path):
    again = tmp_path / "again.zip"

    handout.main(["--out", str(again)])

    assert again.read_bytes() == handout_zip.read_bytes()


@pytest.mark.parametrize(
    "stale_file,fix",
    [
        ("mytorch/nn/linear.py", "grade template"),
        ("LossTester.ipynb", "python -m grader.notebooks"),
    ],
    ids=["stale-skeleton", "stale-notebook"],
)
def test_stale_template_is_refused_with_the_command_that_fixes_it(
    tmp_path, capsys, stale_file, fix
):
    template_copy = tmp_path / "student_template"
    shutil.copytree(TEMPLATE, template_copy, ignore=shutil.ignore_patterns("__pycache__"))
    stale = template_copy / stale_file
    stale.write_text(stale.read_text().replace("a", "b", 1))
    out = tmp_path / "handout.zip"

    code = cli.main(["handout", "--out", str(out), "--template", str(template_copy)])

    error = capsys.readouterr().err
    assert (code, error.startswith("Error: "), f"`{fix}`" in error) == (2, True, True)
    assert not out.exists()
