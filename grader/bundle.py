"""`grade bundle`: the zip that Gradescope builds the autograder image from.

At the zip's root, where Gradescope looks for them: `setup.sh` and `run_autograder` (from
`gradescope/`). Beside them, everything they need and nothing else:

    requirements.txt            the image's pinned packages (gradescope/requirements.txt)
    pyproject.toml, README.md   so that setup.sh can install the grader from here
    grader/                     the package; grader/rubric.toml is the rubric that grades
    fixtures/                   the frozen inputs and expectations, with their manifest
    student_template/testerData.npz
                                so that `grade fixtures check` also works in the image

Never `reference/`: grading needs only the fixtures. The rubric is validated and the
fixtures are checked against their manifest's hashes before anything is written, and the
zip has fixed timestamps and a sorted order, so the same sources give the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import logging
import os
import stat
import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path

from grader import fixtures, rubric
from grader.errors import ConfigError

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
GRADESCOPE_DIR = REPO_ROOT / "gradescope"
PACKAGE_DIR = REPO_ROOT / "grader"
ENTRY_POINTS = ("setup.sh", "run_autograder")
"""Gradescope's two files, at the root of the zip and executable."""

_ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
_ZIP_UNIX_SYSTEM = 3
_SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache"}


def zip_bytes(files: Mapping[str, bytes], executable: frozenset[str] = frozenset()) -> bytes:
    """A deflated zip of `files` (archive name -> content), in sorted order.

    Every member is dated 1980-01-01 with mode 644, or 755 for the names in `executable`,
    so the same files always give the same bytes.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = _ZIP_UNIX_SYSTEM
            mode = 0o755 if name in executable else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            archive.writestr(info, files[name])
    return buffer.getvalue()


def write_zip(out: Path, files: Mapping[str, bytes], executable=frozenset()) -> int:
    """Write zip_bytes(files, executable) to `out` atomically; returns its size in bytes."""
    data = zip_bytes(files, executable)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, out)
    return len(data)


def bundle_files(
    rubric_path: Path | None = None,
    fixtures_dir: Path | None = None,
    template_dir: Path | None = None,
) -> dict[str, bytes]:
    """The bundle's files (archive name -> content), after validating what goes in.

    rubric_path replaces grader/rubric.toml in the bundle (default: that file itself).
    Raises ConfigError when the rubric is invalid, or when a fixture file is missing or
    differs from the hash its manifest records.
    """
    rubric_path = Path(rubric_path or rubric.DEFAULT_RUBRIC)
    fixtures_dir = Path(fixtures_dir or fixtures.default_fixtures_dir())
    template_dir = Path(template_dir or fixtures.default_template_dir())

    rubric.load(rubric_path)
    fixture_files = _verified_fixture_files(fixtures_dir, template_dir)

    files = {name: (GRADESCOPE_DIR / name).read_bytes() for name in ENTRY_POINTS}
    files["requirements.txt"] = (GRADESCOPE_DIR / "requirements.txt").read_bytes()
    for name in ("pyproject.toml", "README.md"):
        if (REPO_ROOT / name).is_file():
            files[name] = (REPO_ROOT / name).read_bytes()
    for path in sorted(PACKAGE_DIR.rglob("*")):
        relative = path.relative_to(REPO_ROOT)
        if path.is_file() and not _SKIPPED_PARTS.intersection(relative.parts):
            if path.suffix != ".pyc":
                files[relative.as_posix()] = path.read_bytes()
    files["grader/rubric.toml"] = rubric_path.read_bytes()
    files.update(fixture_files)
    return files


def _verified_fixture_files(fixtures_dir: Path, template_dir: Path) -> dict[str, bytes]:
    """fixtures/ and testerData.npz as the bundle names them, each matching its manifest."""
    manifest = fixtures.load_manifest(fixtures_dir)
    manifest_path = fixtures_dir / fixtures.MANIFEST_NAME
    files = {f"fixtures/{fixtures.MANIFEST_NAME}": manifest_path.read_bytes()}

    for name, digest in sorted(manifest.files.items()):
        if name == fixtures.TEMPLATE_DATA_KEY:
            path, archive_name = template_dir / fixtures.TEMPLATE_DATA_NAME, name
        else:
            path, archive_name = fixtures_dir / name, f"fixtures/{name}"
        if not path.is_file():
            raise ConfigError(f"{path}: missing; run `grade fixtures regenerate`")
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise ConfigError(
                f"{path}: sha256 differs from {manifest_path}; run `grade fixtures check` "
                "to see why, or `grade fixtures regenerate`"
            )
        files[archive_name] = data

    unlisted = sorted(
        path.name for path in fixtures_dir.glob("*.npz") if path.name not in manifest.files
    )
    if unlisted:
        raise ConfigError(
            f"{fixtures_dir}: {', '.join(unlisted)} not in {fixtures.MANIFEST_NAME}; delete "
            "them or run `grade fixtures regenerate`"
        )
    return files


def main(argv: list[str] | None = None) -> int:
    """`grade bundle --out FILE.zip [--rubric FILE]`; returns the exit status.

    A ConfigError (invalid rubric, fixtures that do not match their manifest) propagates
    to the caller, which prints it as `Error: ...`.
    """
    parser = argparse.ArgumentParser(
        prog="grade bundle",
        description="Build the zip to upload as a Gradescope autograder.",
    )
    parser.add_argument("--out", type=Path, required=True, help="the zip to write")
    parser.add_argument(
        "--rubric", type=Path, help="ship this rubric file (default: grader/rubric.toml)"
    )
    parser.add_argument("--fixtures", type=Path, help="fixtures folder (default: fixtures/)")
    args = parser.parse_args(argv)

    files = bundle_files(args.rubric, args.fixtures)
    size = write_zip(args.out, files, frozenset(ENTRY_POINTS))

    print(
        f"wrote {args.out}: {len(files)} files, {size / 1024:.0f} KiB\n"
        "Upload it on Gradescope: the assignment's Configure Autograder page, "
        "Zip file upload, Ubuntu 22.04 base image."
    )
    return 0


if __name__ == "__main__":
    from grader.cli import main as grade

    sys.exit(grade(["bundle", *sys.argv[1:]]))
