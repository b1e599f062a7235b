"""Find the gradable code in a submission as students hand it in: a folder or a zip.

`mytorch/` and `models/` may sit at any depth (the shallowest wins); `__MACOSX`,
`__pycache__` and stray files are ignored. The original is never modified: the packages
are copied into a private folder, which is what the worker sees.
"""

import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import GraderError

PACKAGES = ("mytorch", "models")
IGNORED = {"__MACOSX", "__pycache__", ".git", ".ipynb_checkpoints"}
MAX_ZIP_BYTES = 200 << 20
MAX_FILE_BYTES = 5 << 20


@dataclass
class Submission:
    """A private copy holding the submission's `mytorch/` and `models/` side by side."""

    name: str
    root: Path
    """The private folder; it holds only the packages that were found."""
    problems: list[str] = field(default_factory=list)
    """What is missing or odd, in words for the student."""
    _owned: Path | None = None

    def cleanup(self) -> None:
        if self._owned is not None:
            shutil.rmtree(self._owned, ignore_errors=True)


def locate(path: Path) -> Submission:
    """Copy the packages of a folder or zip into a private folder and report what is missing.

    Raises GraderError only when `path` is not a folder or a readable zip at all.
    """
    path = Path(path)
    private = Path(tempfile.mkdtemp(prefix="mytorch-submission-"))
    name = path.stem if path.suffix == ".zip" else path.name
    try:
        if not path.exists():
            raise GraderError(f"{path}: no such file or folder; pass a submission to grade")
        submission = Submission(name or str(path), private / "code", _owned=private)
        submission.root.mkdir()
        source = path
        if path.is_file():
            source = private / "unzipped"
            problem = _unzip(path, source)
            if problem:
                submission.problems.append(problem)
                return submission
        for package in PACKAGES:
            found = _shallowest(source, package)
            if found is None:
                submission.problems.append(
                    f"no {package}/ folder was found in the submission; "
                    f"the items that need {package} score 0"
                )
                continue
            shutil.copytree(found, submission.root / package, ignore=_ignore)
    except BaseException:
        shutil.rmtree(private, ignore_errors=True)
        raise
    return submission


def _shallowest(source: Path, package: str) -> Path | None:
    """The least deep folder named `package` holding Python files, outside ignored folders."""
    candidates = [
        candidate
        for candidate in source.rglob(package)
        if candidate.is_dir()
        and not candidate.is_symlink()
        and not IGNORED.intersection(candidate.relative_to(source).parts)
        and any(candidate.rglob("*.py"))
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda candidate: (len(candidate.parts), str(candidate)))


def _ignore(directory: str, names: list[str]) -> set[str]:
    ignored = set()
    for name in names:
        entry = Path(directory) / name
        if name in IGNORED or name.startswith("._") or entry.is_symlink():
            ignored.add(name)
        elif entry.is_file() and (entry.suffix != ".py" or entry.stat().st_size > MAX_FILE_BYTES):
            ignored.add(name)
    return ignored


def _unzip(archive: Path, destination: Path) -> str | None:
    """Extract a zip safely (no paths outside `destination`, bounded size); or say why not."""
    destination.mkdir()
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = bundle.infolist()
            if sum(member.file_size for member in members) > MAX_ZIP_BYTES:
                return f"the zip unpacks to more than {MAX_ZIP_BYTES >> 20} MB; nothing was graded"
            for member in members:
                target = (destination / member.filename).resolve()
                if target.is_relative_to(destination.resolve()) and not member.is_dir():
                    bundle.extract(member, destination)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        return f"the file is not a readable zip ({error}); nothing was graded"
    return None
