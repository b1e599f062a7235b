"""Start the worker behind every isolation layer this machine allows, and say which held.

Layers, outermost first (README, "Isolation"):

1. process split: the student's code runs only in the worker, reached through our pipes;
2. resource limits: CPU time, address space, processes, open files, file size;
3. unprivileged user: when the grader is root, the worker runs as `nobody` with an empty
   environment, HOME and temp dir;
4. namespaces (bubblewrap): no network, its own PID namespace, and a filesystem that holds
   only Python, NumPy, the worker's two files and the submission's private copy.

A layer the machine refuses is skipped, and `Isolation.describe()` says so.
"""

import logging
import os
import resource
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

WORKER_FILES = ("worker.py", "wire.py")
UNPRIVILEGED_UID = 65534


@dataclass(frozen=True)
class Limits:
    """Per-worker resource limits; the defaults fit Gradescope's 768 MB container."""

    cpu_seconds: int = 120
    """CPU time of one worker over its whole life (each item also has a wall-clock limit)."""
    memory_bytes: int = 512 << 20
    """Address space of the worker; NumPy and a homework's arrays need far less."""
    processes: int = 64
    """Processes and threads of the unprivileged user (only enforced for non-root)."""
    open_files: int = 64
    file_bytes: int = 8 << 20
    """Largest file the worker may write."""


@dataclass
class Isolation:
    """Which layers held for a worker, for results.json and `grade -v`."""

    process_split: bool = True
    resource_limits: bool = False
    unprivileged_user: bool = False
    namespaces: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def level(self) -> str:
        """A short name for the CSV and the report: full, user, limits or process."""
        if self.namespaces and self.unprivileged_user:
            return "full"
        if self.unprivileged_user:
            return "user"
        if self.resource_limits:
            return "limits"
        return "process"

    def describe(self) -> dict:
        return {
            "level": self.level,
            "process_split": self.process_split,
            "resource_limits": self.resource_limits,
            "unprivileged_user": self.unprivileged_user,
            "namespaces": self.namespaces,
            "notes": list(self.notes),
        }


class Sandbox:
    """A scratch folder for one submission, and the command that starts its workers.

    The scratch folder holds the submission's private copy, the worker's files and a
    `pylib` folder that exposes NumPy alone, so that nothing else installed beside the
    grader (torch included) can be imported by student code.
    """

    def __init__(self, submission_root: Path, limits: Limits | None = None, isolate: bool = True):
        self.limits = limits or Limits()
        self.scratch = Path(tempfile.mkdtemp(prefix="mytorch-grade-"))
        self.submission = self.scratch / "submission"
        shutil.copytree(submission_root, self.submission, symlinks=False)
        self.isolation = Isolation()
        self._prepare_files()
        self._plan(isolate)

    def _prepare_files(self) -> None:
        (self.scratch / "grader").mkdir()
        for name in WORKER_FILES:
            shutil.copy2(Path(__file__).with_name(name), self.scratch / "grader" / name)
        self.pylib = self.scratch / "pylib"
        self.pylib.mkdir()
        self.numpy_dirs = _numpy_dirs()
        for directory in self.numpy_dirs:
            (self.pylib / directory.name).symlink_to(directory)
        for writable in ("home", "tmp"):
            (self.scratch / writable).mkdir()
        os.chmod(self.scratch, 0o755)

    def _plan(self, isolate: bool) -> None:
        is_root = os.geteuid() == 0
        self.use_user = isolate and is_root and shutil.which("setpriv") is not None
        self.bwrap = shutil.which("bwrap") if isolate else None
        if self.bwrap and not _bwrap_works(self.bwrap):
            self.isolation.notes.append("bubblewrap is installed but refused to start")
            self.bwrap = None
        if isolate and not self.bwrap:
            self.isolation.notes.append("no namespaces: bubblewrap is missing or refused")
        if isolate and not is_root:
            self.isolation.notes.append("not root: the worker runs as the grader's own user")
        if self.use_user:
            for path in (self.scratch / "home", self.scratch / "tmp", self.submission):
                _chown_tree(path, UNPRIVILEGED_UID)
        self.isolation.unprivileged_user = self.use_user
        self.isolation.namespaces = self.bwrap is not None
        self.isolation.resource_limits = isolate
        self.isolate = isolate

    def command(self, request_fd: int, reply_fd: int) -> list[str]:
        """The argv that starts a worker reading requests on `request_fd`."""
        python = os.path.realpath(sys.executable)
        if not self.bwrap:
            worker = str(self.scratch / "grader" / "worker.py")
            argv = [python, "-I", "-S", worker, str(request_fd), str(reply_fd)]
            argv += [str(self.submission), str(self.pylib)]
            return self._drop_privileges() + argv

        argv = [self.bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"]
        argv += ["--unshare-cgroup-try", "--die-with-parent", "--new-session"]
        argv += ["--perms", "0755", "--dir", "/sandbox"]
        for system_dir in ("/usr", "/etc/alternatives", "/etc/ld.so.cache"):
            if os.path.exists(system_dir):
                argv += ["--ro-bind", system_dir, system_dir]
        for link in ("lib", "lib64", "bin", "sbin"):
            if os.path.islink(f"/{link}"):
                argv += ["--symlink", os.readlink(f"/{link}"), f"/{link}"]
        prefix = os.path.realpath(sys.base_prefix)
        if not prefix.startswith("/usr"):
            argv += _ro_bind_with_parents(prefix)
        argv += ["--perms", "0755", "--dir", "/sandbox/pylib"]
        for directory in self.numpy_dirs:
            argv += ["--ro-bind", str(directory), f"/sandbox/pylib/{directory.name}"]
        argv += ["--ro-bind", str(self.scratch / "grader"), "/sandbox/grader"]
        argv += ["--bind", str(self.submission), "/sandbox/submission"]
        argv += ["--bind", str(self.scratch / "home"), "/sandbox/home"]
        argv += ["--bind", str(self.scratch / "tmp"), "/tmp"]
        argv += ["--proc", "/proc", "--dev", "/dev", "--chdir", "/sandbox/submission"]
        argv += ["--"] + self._drop_privileges()
        argv += [python, "-I", "-S", "/sandbox/grader/worker.py", str(request_fd)]
        argv += [str(reply_fd), "/sandbox/submission", "/sandbox/pylib"]
        return argv

    def _drop_privileges(self) -> list[str]:
        if not self.use_user:
            return []
        uid = str(UNPRIVILEGED_UID)
        return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]

    def environment(self) -> dict[str, str]:
        """The worker's whole environment: nothing of the grader's leaks in."""
        home = "/sandbox/home" if self.bwrap else str(self.scratch / "home")
        tmp = "/tmp" if self.bwrap else str(self.scratch / "tmp")
        return {
            "PATH": "/usr/bin:/bin",
            "HOME": home,
            "TMPDIR": tmp,
            "LANG": "C.UTF-8",
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
        }

    def working_directory(self) -> str:
        return str(self.submission)

    def apply_limits(self) -> None:
        """Runs in the child between fork and exec: set the rlimits."""
        if not self.isolate:
            return
        limits = self.limits
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if self.use_user or os.geteuid() != 0:
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))

    def cleanup(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)


def _numpy_dirs() -> list[Path]:
    """NumPy's package folder and the folder of its bundled libraries, if there is one."""
    package = Path(np.__file__).resolve().parent
    libs = package.with_name("numpy.libs")
    return [package] + ([libs] if libs.is_dir() else [])


def _ro_bind_with_parents(path: str) -> list[str]:
    """Bind `path` read-only, creating its parents world-readable inside the sandbox."""
    argv = []
    parts = Path(path).parts
    for depth in range(2, len(parts)):
        argv += ["--perms", "0755", "--dir", str(Path(*parts[:depth]))]
    return argv + ["--ro-bind", path, path]


def _chown_tree(root: Path, uid: int) -> None:
    for directory, _, files in os.walk(root):
        os.chown(directory, uid, uid)
        for name in files:
            os.chown(os.path.join(directory, name), uid, uid)


_BWRAP_CHECKED: dict[str, bool] = {}


def _bwrap_works(bwrap: str) -> bool:
    """Whether bubblewrap can make its namespaces here (not in every container)."""
    if bwrap not in _BWRAP_CHECKED:
        probe = [bwrap, "--unshare-pid", "--unshare-net", "--ro-bind", "/", "/", "true"]
        try:
            done = subprocess.run(probe, capture_output=True, timeout=10)
            _BWRAP_CHECKED[bwrap] = done.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            _BWRAP_CHECKED[bwrap] = False
        if not _BWRAP_CHECKED[bwrap]:
            log.warning("bubblewrap refused to start; workers run without namespaces")
    return _BWRAP_CHECKED[bwrap]


def platform_paths() -> dict[str, str]:
    """Where this Python keeps its standard library (for `grade -v`)."""
    return {"stdlib": sysconfig.get_paths()["stdlib"], "prefix": sys.base_prefix}
