"""The handout's tester notebooks: current, clean on the reference, and on the template
stopped by NotImplementedError at the first cell that calls unfinished student code.

Running them needs a Jupyter kernel. The tests write a kernelspec for this very Python
into a temporary JUPYTER_PATH (IPython's and Jupyter's runtime files go there too), so the
user's own Jupyter setup is neither used nor touched. The twelve runs (six notebooks on
the reference and on the template) share one event loop and run side by side.
"""

import asyncio
import json
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from grader import notebooks

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "student_template"
FOLDERS = {"reference": REPO / "reference", "template": TEMPLATE}
NAMES = list(notebooks.NOTEBOOKS)
RUBRIC_ITEMS = ["1a", "1b", "1c", "2a", "2b", "2c", "2d", "3", "4a", "4b", "4c", "5a", "5b", "5c"]
CELL_TIMEOUT = 120
KERNEL_START_TIMEOUT = 120
PARALLEL_KERNELS = 4
"""Kernels running at once: enough to keep two cores busy while others start up."""


@dataclass
class Run:
    """One executed notebook: its cells with outputs, and the index of the cell that raised."""

    notebook: nbformat.NotebookNode
    failed_cell: int | None

    def error(self) -> dict:
        return next(
            output
            for output in self.notebook.cells[self.failed_cell].outputs
            if output.output_type == "error"
        )

    def printed(self) -> str:
        return "".join(
            output.text
            for cell in self.notebook.cells
            for output in cell.get("outputs", [])
            if output.output_type == "stream" and output.name == "stdout"
        )


def _student_folder(source: Path, destination: Path) -> Path:
    """A student's handout folder: mytorch/, models/ and testerData.npz, nothing else."""
    for package in ("mytorch", "models"):
        shutil.copytree(
            source / package, destination / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy2(TEMPLATE / "testerData.npz", destination)
    return destination


async def _execute(name: str, folder: Path, slots: asyncio.Semaphore) -> Run:
    notebook = nbformat.read(TEMPLATE / f"{name}.ipynb", as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=CELL_TIMEOUT,
        startup_timeout=KERNEL_START_TIMEOUT,
        resources={"metadata": {"path": str(folder)}},
    )
    async with slots:
        try:
            await client.async_execute()
        except CellExecutionError:
            pass
    failed = [
        index
        for index, cell in enumerate(notebook.cells)
        if any(output.output_type == "error" for output in cell.get("outputs", []))
    ]
    return Run(notebook, failed[0] if failed else None)


async def _execute_all(folders: dict[str, Path]) -> dict[tuple[str, str], Run]:
    slots = asyncio.Semaphore(PARALLEL_KERNELS)
    keys = [(which, name) for which in folders for name in NAMES]
    runs = await asyncio.gather(*(_execute(name, folders[which], slots) for which, name in keys))
    return dict(zip(keys, runs, strict=True))


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[tuple[str, str], Run]:
    """Every notebook executed in a copy of the reference and of the template."""
    root = tmp_path_factory.mktemp("notebooks")
    kernel_dir = root / "jupyter" / "kernels" / "python3"
    kernel_dir.mkdir(parents=True)
    kernelspec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    (kernel_dir / "kernel.json").write_text(json.dumps(kernelspec))
    folders = {which: _student_folder(source, root / which) for which, source in FOLDERS.items()}

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(root / "jupyter"))
        patch.setenv("JUPYTER_RUNTIME_DIR", str(root / "runtime"))
        patch.setenv("JUPYTER_PLATFORM_DIRS", "1")
        patch.setenv("IPYTHONDIR", str(root / "ipython"))
        patch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
        return asyncio.run(_execute_all(folders))


def _first_student_cell(notebook: nbformat.NotebookNode) -> int:
    return next(
        index
        for index, cell in enumerate(notebook.cells)
        if "student" in cell.get("metadata", {}).get("tags", [])
    )


def test_committed_notebooks_are_what_the_generator_writes():
    assert notebooks.stale(TEMPLATE) == []


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_valid_has_no_outputs_and_tags_every_code_cell(name):
    notebook = nbformat.read(TEMPLATE / f"{name}.ipynb", as_version=4)

    nbformat.validate(notebook)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [(cell.outputs, cell.execution_count) for cell in code_cells] == [([], None)] * len(
        code_cells
    )
    assert all(len(cell.metadata["tags"]) == 1 for cell in code_cells)
    assert {cell.metadata["tags"][0] for cell in code_cells} == set(notebooks.TAGS)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_clean_on_the_reference(runs, name):
    run = runs["reference", name]

    printed = run.printed()
    assert run.failed_cell is None, run.error()
    assert re.findall(r"^FAIL .*$", printed, flags=re.MULTILINE) == []
    assert re.search(r"^[1-9]\d* passed, 0 failed$", printed, flags=re.MULTILINE)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_stops_at_its_first_student_cell_on_the_template(runs, name):
    run = runs["template", name]

    assert run.failed_cell is not None
    assert (run.error()["ename"], run.failed_cell) == (
        "NotImplementedError",
        _first_student_cell(run.notebook),
    )


def test_every_rubric_item_and_the_training_run_are_checked_and_pass(runs):
    printed = "".join(runs["reference", name].printed() for name in NAMES)

    passed_items = set(re.findall(r"^PASS  (\w+) ", printed, flags=re.MULTILINE))
    assert passed_items >= {*RUBRIC_ITEMS, "6"}


def test_training_tester_loads_no_data_file():
    sources = "\n".join(
        cell.source for cell in nbformat.read(TEMPLATE / "TrainingTester.ipynb", as_version=4).cells
    )

    assert ("np.load" not in sources, "http" not in sources) == (True, True)
