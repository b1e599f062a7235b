"""`grade handout`: the zip that students download, built from `student_template/`.

Under one folder, `handout/`, the zip holds:

    mytorch/, models/       the skeleton: every function body is `raise NotImplementedError`
    testerData.npz          the handout's data (W, b, X, Y, dLdZ)
    *Tester.ipynb           the six tester notebooks, without outputs
    README.md               what to do, for students

and nothing else of the template folder, and nothing of `reference/` or `fixtures/`. The
template is checked first: a stale skeleton (`grade template` would change it) or stale
notebooks (`python -m grader.notebooks` would change them) is an error, so the zip always
matches the reference and the generator.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader import bundle, fixtures, notebooks, template
from grader.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
FOLDER = "handout"
"""The folder that every file of the zip sits in."""
PACKAGES = ("mytorch", "models")

STUDENT_README = """\
# MyTorch handout

Write a small PyTorch-like library in pure NumPy: `mytorch/` (Linear, the MSE and
cross-entropy losses, the Identity, Sigmoid, Tanh and ReLU activations, SGD) and the
models in `models/` (MLP0, MLP1 and MLP4). Every function to write raises
`NotImplementedError` for now; its docstring says what it must do, with the shapes. Use
NumPy only: no other import.

## Testing your code

Open the notebooks in Jupyter from this folder (they import `mytorch/` and `models/` and
read `testerData.npz` from beside them) and run all cells:

    LinearTester       1a-1c   Linear: init, forward, backward
    LossTester         2a-2d   MSELoss and CrossEntropyLoss, forward and backward
    SGDTester          3       one SGD step
    ActivationTester   4a-4c   Identity, Sigmoid, Tanh and ReLU, with plots
    MLPTester          5a-5c   MLP0, MLP1 and MLP4: forward, backward, one SGD step
    TrainingTester     6       MLP1 trained on a small data set, next to torch

They need `numpy`, `torch`, `matplotlib` and `jupyter`. Every check prints PASS or FAIL
and, on a failure, where your result differs from torch's. A `NotImplementedError` marks
the next part to write.

## Submitting

Submit your `mytorch/` and `models/` folders (a zip holding both is fine). The autograder
runs more cases than the notebooks (other shapes, batches of one row, large logits), so
passing every notebook check is a good sign but not a guarantee.
"""


def handout_files(template_dir: Path) -> dict[str, bytes]:
    """The handout's files, named as in the zip ("handout/mytorch/nn/linear.py", ...)."""
    files = {"README.md": STUDENT_README.encode()}
    for package in PACKAGES:
        for path in sorted((template_dir / package).rglob("*.py")):
            if "__pycache__" not in path.parts:
                files[path.relative_to(template_dir).as_posix()] = path.read_bytes()
    files[fixtures.TEMPLATE_DATA_NAME] = (template_dir / fixtures.TEMPLATE_DATA_NAME).read_bytes()
    for name in notebooks.NOTEBOOKS:
        files[f"{name}.ipynb"] = (template_dir / f"{name}.ipynb").read_bytes()
    return {f"{FOLDER}/{name}": data for name, data in files.items()}


def check_template(template_dir: Path, reference_dir: Path) -> None:
    """Raise ConfigError, with the command that fixes it, if the template is not current."""
    drift = template.template_drift(reference_dir, template_dir)
    if drift:
        raise ConfigError(
            f"{template_dir}: {', '.join(drift)} differ from the stripped reference; "
            "run `grade template` (and commit the result)"
        )
    outdated = notebooks.stale(template_dir)
    if outdated:
        raise ConfigError(
            f"{template_dir}: {', '.join(outdated)} differ from what the generator writes; "
            "run `python -m grader.notebooks` (and commit the result)"
        )
    data = template_dir / fixtures.TEMPLATE_DATA_NAME
    if not data.is_file():
        raise ConfigError(f"{data}: missing; run `grade fixtures regenerate`")


def main(argv: list[str] | None = None) -> int:
    """`grade handout --out FILE.zip`; returns the exit status.

    A ConfigError (stale template or notebooks, missing testerData.npz) propagates to the
    caller, which prints it as `Error: ...`.
    """
    parser = argparse.ArgumentParser(
        prog="grade handout", description="Build the students' handout zip."
    )
    parser.add_argument("--out", type=Path, required=True, help="the zip to write")
    parser.add_argument("--template", type=Path, default=REPO_ROOT / "student_template")
    parser.add_argument("--reference", type=Path, default=REPO_ROOT / "reference")
    args = parser.parse_args(argv)

    check_template(args.template, args.reference)
    files = handout_files(args.template)
    size = bundle.write_zip(args.out, files)

    print(f"wrote {args.out}: {len(files)} files, {size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    from grader.cli import main as grade

    sys.exit(grade(["handout", *sys.argv[1:]]))
