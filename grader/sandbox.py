"""Start the worker behind every isolation layer this machine allows, and say which held.

The layers, outermost first (docs/isolation.md says what each protects against and what
it costs):

1. process split: student code runs only in a worker, reached through the grader's own
   pipes. The sandbox's first process, the template (grader/worker.py), imports NumPy
   and forks a fresh worker for each rubric item, which it kills (with everything the
   worker started) when the item ends; a throwaway parent (grader/shepherd.py) between
   the grader and the template kills everything below it at the end;
2. resource limits, which the worker sets on itself before it imports anything of the
   student's: CPU time, address space, processes (no fork, no thread), open files, file
   size;
3. unprivileged user, when the grader is root: each worker drops to a uid of its own
   (`UID_BASE` + a slot, so that parallel graders never share one) before anything of the
   student's runs, with an empty environment, HOME and temp dir, in a private copy of
   the submission; the template stays root, out of the workers' reach;
4. namespaces (bubblewrap): no network, its own PID namespace, and a filesystem that holds
   only Python, NumPy, the worker's two files, the submission's copy and a scratch dir;
5. import policy, in the worker: student code may import NumPy and the standard library.

A layer the machine refuses is skipped with a warning, and `Isolation.describe()` says
so. `GRADER_SANDBOX=nobwrap`, `nouser` or `nobwrap,nouser` turns layers 4 and 3 off by
hand (to test the fallbacks and to time each level).
"""

import fcntl
import json
import logging
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

GRADER_DIR = Path(__file__).resolve().parent
WORKER_FILES = ("worker.py", "wire.py")
SHEPHERD = GRADER_DIR / "shepherd.py"
SWITCHES_VARIABLE = "GRADER_SANDBOX"
SWITCHES = frozenset({"nobwrap", "nouser"})

UID_BASE = 64000
UID_SLOTS = 64
"""Worker uids are UID_BASE + slot; a uid with a passwd entry is skipped."""

SHARED_WRITABLE_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue")
"""World-writable places where a worker without namespaces could leave files."""

SWEEP_SECONDS = 2.0

PROBE = """
import os, sys
uid = int(sys.argv[2])
if uid >= 0:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
sys.path.insert(0, sys.argv[1])
import numpy, numpy.polynomial, json, random
"""
"""What the probe of a planned sandbox runs: Python, then NumPy and the standard library as
the worker's uid (a worker imports modules that its template has not)."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one worker; the defaults fit Gradescope's 768 MB container.

    docs/isolation.md has the measurements behind the defaults.
    """

    cpu_seconds: int = 60
    """CPU time of one worker, that is of one rubric item (which also has a wall-clock limit)."""
    memory_bytes: int = 384 << 20
    """Address space of the worker: NumPy needs about 140 MB of it, the homework little more."""
    processes: int = 1
    """Tasks of the worker's uid: 1 is the worker alone (no fork, no thread)."""
    open_files: int = 64
    file_bytes: int = 8 << 20
    """Largest file the worker may write."""
    scratch_bytes: int = 32 << 20
    """Size of each of the worker's writable folders (its copy of the submission, HOME and
    /tmp), in memory, when namespaces hold; without them they are folders on disk."""


@dataclass
class Isolation:
    """Which layers held for a submission's workers, for results.json and `grade -v`."""

    process_split: bool = True
    resource_limits: bool = False
    unprivileged_user: bool = False
    namespaces: bool = False
    import_policy: bool = True
    worker_uid: int | None = None
    limits: dict = field(default_factory=dict)
    """The limits the worker reported having set on itself."""
    notes: list[str] = field(default_factory=list)

    @property
    def level(self) -> str:
        """full, namespaces, user, limits or process (the layers that held, in one word)."""
        if self.namespaces and self.unprivileged_user:
            return "full"
        if self.namespaces:
            return "namespaces"
        if self.unprivileged_user:
            return "user"
        if self.resource_limits:
            return "limits"
        return "process"

    def describe(self) -> dict:
        return {"level": self.level, **asdict(self)}


class Sandbox:
    """A scratch folder for one submission, and the command that starts its workers.

    The scratch folder holds the submission's private copy, the worker's two files, a
    `pylib` folder that exposes NumPy alone (nothing else installed beside the grader,
    torch included, is on the worker's path), and an empty HOME and temp dir.
    """

    def __init__(self, submission_root: Path, limits: Limits | None = None, isolate: bool = True):
        self.limits = limits or Limits()
        self.isolate = isolate
        self.isolation = Isolation(resource_limits=isolate)
        self.account: WorkerAccount | None = None
        self.bwrap: str | None = None
        self.python = _python()
        self.scratch = Path(tempfile.mkdtemp(prefix="mytorch-grade-"))
        try:
            self.submission = self.scratch / "submission"
            shutil.copytree(submission_root, self.submission, symlinks=False)
            self._prepare_files()
            if isolate:
                self._plan()
        except BaseException:
            self.cleanup()
            raise

    def _prepare_files(self) -> None:
        (self.scratch / "grader").mkdir()
        for name in WORKER_FILES:
            shutil.copy2(GRADER_DIR / name, self.scratch / "grader" / name)
        self.pylib = self.scratch / "pylib"
        self.pylib.mkdir()
        self.numpy_dirs = _numpy_dirs()
        for directory in self.numpy_dirs:
            (self.pylib / directory.name).symlink_to(directory)
        for writable in ("home", "tmp"):
            (self.scratch / writable).mkdir()
        os.chmod(self.scratch, 0o755)

    # -- which layers hold here ---------------------------------------------------------

    def _plan(self) -> None:
        """Choose the layers, probe that the worker starts behind them, note what fell."""
        switches = _switches()
        notes = self.isolation.notes
        if os.geteuid() != 0:
            notes.append(f"not root: the worker runs as the grader's own user (uid {os.getuid()})")
        elif "nouser" in switches:
            notes.append(f"{SWITCHES_VARIABLE} turned the user switch off")
        else:
            self.account = WorkerAccount.acquire()
            if self.account is None:
                notes.append(f"no worker uid free in {UID_BASE}..{UID_BASE + UID_SLOTS - 1}")
            else:
                self._hand_over(self.account.uid)

        if "nobwrap" in switches:
            notes.append(f"{SWITCHES_VARIABLE} turned namespaces (bubblewrap) off")
        elif shutil.which("bwrap") is None:
            notes.append("no namespaces: bubblewrap (bwrap) is not installed")
        else:
            self.bwrap = shutil.which("bwrap")
            refusal = self._probe()
            if refusal:
                notes.append(f"no namespaces: bubblewrap refused to start ({refusal})")
                self.bwrap = None

        if self.account is not None and self.bwrap is None:
            refusal = self._probe()
            if refusal:
                notes.append(
                    f"no user switch: uid {self.account.uid} cannot read Python or NumPy "
                    f"here ({refusal})"
                )
                self._hand_over(os.getuid())
                self.account.release()
                self.account = None

        if self.bwrap is None:
            notes += _visible_secrets()
        if os.geteuid() == 0 and self.account is None:
            notes.append("the worker runs as root")
        self.isolation.unprivileged_user = self.account is not None
        self.isolation.namespaces = self.bwrap is not None
        self.isolation.worker_uid = self.account.uid if self.account else os.getuid()
        _warn_once(self.isolation)

    def _hand_over(self, uid: int) -> None:
        """Give the worker's uid its writable dirs; keep other workers out of the scratch."""
        for path in (self.scratch / "home", self.scratch / "tmp", self.submission):
            _chown_tree(path, uid)
        os.chown(self.scratch, os.getuid(), uid)
        os.chmod(self.scratch, 0o750 if uid != os.getuid() else 0o755)

    def _probe(self) -> str | None:
        """Start Python and NumPy behind the planned layers; None if it worked, else why not."""
        key = (self.bwrap, self.account is not None, self.python, tuple(self.numpy_dirs))
        if key not in _PROBED:
            pylib = "/sandbox/pylib" if self.bwrap else str(self.pylib)
            uid = str(self.account.uid if self.account else -1)
            argv = self._namespaces() + [self.python, "-I", "-S", "-c", PROBE, pylib, uid]
            try:
                done = subprocess.run(
                    argv,
                    capture_output=True,
                    timeout=30,
                    env=self.environment(),
                    cwd=self.working_directory(),
                )
                failed = done.returncode != 0
                reason = _first_line(done.stderr) or f"exit status {done.returncode}"
            except (OSError, subprocess.TimeoutExpired) as error:
                failed, reason = True, str(error)
            _PROBED[key] = reason if failed else None
        return _PROBED[key]

    # -- the worker's command -----------------------------------------------------------

    def command(self, control_fd: int) -> list[str]:
        """The argv that starts the template (behind its shepherd) on the socket `control_fd`."""
        inside = Path("/sandbox") if self.bwrap else self.scratch
        template = [self.python, "-I", "-S", str(inside / "grader" / "worker.py"), str(control_fd)]
        template += [str(inside / "submission"), str(inside / "pylib"), self._settings()]
        shepherd = [self.python, "-I", "-S", str(SHEPHERD), str(os.getpid())]
        return shepherd + self._namespaces() + template

    def _settings(self) -> str:
        """The template's settings: the limits, the worker's uid, what to copy where."""
        limits = asdict(self.limits) if self.isolate else {}
        limits.pop("scratch_bytes", None)
        settings = {"limits": limits, "uid": self.account.uid if self.account else None}
        if self.bwrap:
            # The copy of the submission goes into a tmpfs, so a worker cannot fill the disk.
            settings["copy"] = ["/sandbox/original", "/sandbox/submission"]
            settings["writable"] = ["/sandbox/submission", "/sandbox/home"]
        return json.dumps(settings)

    def _namespaces(self) -> list[str]:
        if not self.bwrap:
            return []
        argv = [self.bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"]
        argv += ["--unshare-cgroup-try", "--die-with-parent", "--new-session"]
        if os.geteuid() == 0 and self.account is None:
            argv += ["--cap-drop", "ALL"]
        argv += ["--perms", "0755", "--dir", "/sandbox"]
        for system_dir in ("/usr", "/etc/alternatives", "/etc/ld.so.cache"):
            if os.path.exists(system_dir):
                argv += ["--ro-bind", system_dir, system_dir]
        for link in ("lib", "lib64", "bin", "sbin"):
            if os.path.islink(f"/{link}"):
                argv += ["--symlink", os.readlink(f"/{link}"), f"/{link}"]
        for packages in _site_packages_under_usr():
            argv += ["--tmpfs", packages]
        prefix = os.path.realpath(sys.base_prefix)
        if prefix != "/usr" and not prefix.startswith("/usr/"):
            argv += _ro_bind_with_parents(prefix)
            if os.path.isdir(_site_packages_of(prefix)):
                argv += ["--tmpfs", _site_packages_of(prefix)]
        argv += ["--perms", "0755", "--dir", "/sandbox/pylib"]
        for directory in self.numpy_dirs:
            argv += ["--ro-bind", str(directory), f"/sandbox/pylib/{directory.name}"]
        argv += ["--ro-bind", str(self.scratch / "grader"), "/sandbox/grader"]
        argv += ["--ro-bind", str(self.submission), "/sandbox/original"]
        for writable, mode in (("/sandbox/submission", "0755"), ("/sandbox/home", "0755")):
            argv += ["--size", str(self.limits.scratch_bytes), "--perms", mode, "--tmpfs", writable]
        argv += ["--size", str(self.limits.scratch_bytes), "--perms", "1777", "--tmpfs", "/tmp"]
        argv += ["--proc", "/proc", "--dev", "/dev", "--chdir", "/sandbox"]
        return argv + ["--"]

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

    # -- leaving nothing behind ---------------------------------------------------------

    def sweep(self) -> None:
        """Kill every process of the workers' uid: none may outlive its worker."""
        if self.account is not None:
            left = _kill_processes_of(self.account.uid)
            if left:
                log.warning("processes of worker uid %d survived: %s", self.account.uid, left)

    def cleanup(self) -> None:
        """Kill what is left of the workers, remove their files, free the uid."""
        if self.account is not None:
            self.sweep()
            _remove_files_of(self.account.uid)
            self.account.release()
            self.account = None
        _remove_tree(self.scratch)


@dataclass
class WorkerAccount:
    """A worker uid held by this grading process (an flock), so no other grader uses it."""

    uid: int
    lock_fd: int

    @classmethod
    def acquire(cls) -> "WorkerAccount | None":
        """The first uid of the range that no grader holds and no process uses, or None.

        What a crashed grader's workers left in the shared folders is removed first.
        """
        lock_dir = _lock_dir()
        if lock_dir is None:
            return None
        for slot in range(UID_SLOTS):
            uid = UID_BASE + slot
            if _has_passwd_entry(uid):
                continue
            fd = os.open(lock_dir / f"uid-{uid}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            if processes_of(uid):
                # Not ours to kill: a grader that locks elsewhere, or one that crashed.
                log.info("worker uid %d has processes but no lock; skipped", uid)
                os.close(fd)
                continue
            _remove_files_of(uid)
            return cls(uid, fd)
        return None

    def release(self) -> None:
        os.close(self.lock_fd)


# -- helpers ----------------------------------------------------------------------------

_PROBED: dict[tuple, str | None] = {}
_WARNED: set[str] = set()


def _switches() -> set[str]:
    text = os.environ.get(SWITCHES_VARIABLE, "")
    switches = {word.strip() for word in text.split(",") if word.strip()}
    unknown = switches - SWITCHES
    if unknown:
        log.warning(
            "%s=%s: ignoring %s (known: %s)",
            SWITCHES_VARIABLE,
            text,
            ", ".join(sorted(unknown)),
            ", ".join(sorted(SWITCHES)),
        )
    return switches & SWITCHES


def _warn_once(isolation: Isolation) -> None:
    """One warning per process and level when the worker is less isolated than it could be."""
    if isolation.level == "full" or isolation.level in _WARNED:
        return
    _WARNED.add(isolation.level)
    log.warning(
        "isolation level %r, not 'full': %s. A hostile submission can do more here; "
        "see docs/isolation.md",
        isolation.level,
        "; ".join(isolation.notes),
    )


def _python() -> str:
    """The interpreter for the sandbox: this one, resolved (bubblewrap binds its prefix)."""
    resolved = os.path.realpath(sys.executable)
    return resolved if os.access(resolved, os.X_OK) else sys.executable


def _numpy_dirs() -> list[Path]:
    """NumPy's package folder and the folder of its bundled libraries, if there is one."""
    package = Path(np.__file__).resolve().parent
    libs = package.with_name("numpy.libs")
    return [package] + ([libs] if libs.is_dir() else [])


def _site_packages_of(prefix: str) -> str:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return os.path.join(prefix, "lib", version, "site-packages")


def _site_packages_under_usr() -> list[str]:
    """Package folders of the system's Pythons: hidden, so the worker sees only the stdlib."""
    found = []
    for pattern in ("lib/python3*/site-packages", "lib/python3*/dist-packages"):
        for base in (Path("/usr"), Path("/usr/local")):
            found += [str(path) for path in base.glob(pattern) if path.is_dir()]
    return sorted(found)


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


def _first_line(stderr: bytes) -> str:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[-1][:200] if lines else ""


def _visible_secrets() -> list[str]:
    """Notes for grader files that a worker without namespaces could read."""
    notes = []
    for path in (GRADER_DIR.parent / "fixtures", GRADER_DIR.parent / "reference"):
        if path.exists() and _readable_by_others(path):
            notes.append(f"without namespaces the worker can read {path} (chmod -R o-rwx it)")
    return notes


def _readable_by_others(path: Path) -> bool:
    """Whether a user with no relation to the owner can list `path` (and reach it)."""
    path = path.resolve()
    for parent in path.parents:
        if not os.stat(parent).st_mode & stat.S_IXOTH:
            return False
    return bool(os.stat(path).st_mode & stat.S_IROTH)


def _has_passwd_entry(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def _lock_dir() -> Path | None:
    """A root-only folder for the uid locks, shared by every grader on the machine.

    /run first: nobody else can create a folder there ahead of the grader.
    """
    for lock_dir in (Path("/run/mytorch-grader"), Path(tempfile.gettempdir()) / "mytorch-grader"):
        try:
            lock_dir.mkdir(mode=0o700, exist_ok=True)
            info = os.lstat(lock_dir)
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode) and info.st_uid == 0 and not info.st_mode & 0o077:
            return lock_dir
        log.warning("%s is not a root-only folder; not used for worker uid locks", lock_dir)
    return None


def processes_of(uid: int) -> list[int]:
    """Every process whose real uid is `uid` (zombies included)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as status:
                for line in status:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            found.append(int(entry))
                        break
        except (OSError, ValueError, IndexError):
            continue
    return found


def _kill_processes_of(uid: int) -> list[int]:
    """SIGKILL every process of `uid` until none is left; return those that would not go."""
    deadline = time.monotonic() + SWEEP_SECONDS
    while True:
        left = processes_of(uid)
        if not left or time.monotonic() > deadline:
            return left
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.005)


def _remove_files_of(uid: int) -> None:
    """Remove what `uid` left in the world-writable folders (never following a link)."""
    for directory in {*SHARED_WRITABLE_DIRS, tempfile.gettempdir()}:
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    _remove_tree(Path(entry.path))
                else:
                    os.unlink(entry.path)
            except OSError as error:
                log.warning("could not remove %s left by worker uid %d: %s", entry.path, uid, error)


def _remove_tree(root: Path) -> None:
    """Remove a folder, even where a worker took the permissions off its own dirs."""
    _make_removable(root)
    shutil.rmtree(root, ignore_errors=True)


def _make_removable(directory: Path) -> None:
    """Give every directory below `directory` (links not followed) mode 0700."""
    try:
        os.chmod(directory, 0o700)
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            _make_removable(Path(entry.path))
