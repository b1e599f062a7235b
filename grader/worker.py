"""The worker: imports a student's submission and runs the grader's requests against it.

This file runs on the untrusted side, inside the sandbox, with the submission's private
copy as its working directory. It knows no expected value and no solution code: it builds
the student's objects, calls their methods with the arrays it is sent, and sends back
what they return. The stand-ins it offers (plain attribute holders, and Linear or
activation stand-ins whose arithmetic is done by the grader through callbacks) let the
grader test a student's SGD and MLP wiring without the student's other components.

The process the grader starts is the template: it sets its resource limits (so that
NumPy's import counts against them), imports NumPy, and then only forks, on the grader's
command, one worker per rubric item, and ends it (with everything it started) when the
item is over. The template never runs student code. Each worker first drops to the
worker's own uid when the template runs as root, forbids itself to fork, installs the
import policy (NumPy and the standard library only) and tells the grader it is ready;
only then does it import the submission.

Usage: python -I -S worker.py CONTROL_FD SUBMISSION_ROOT NUMPY_DIR SETTINGS
(CONTROL_FD is a Unix socket to the grader; NUMPY_DIR a folder that holds NumPy and
nothing else importable; SETTINGS the JSON {"limits": grader.sandbox.Limits as a dict,
or {} for none, "uid": the worker's uid, or null to keep the template's, and optionally
"copy": [from, to], the submission to copy into its working folder first, "writable":
the folders to give to the worker's uid}.)
"""

import contextlib
import ctypes
import importlib
import json
import os
import resource
import shutil
import signal
import socket
import sys
import traceback
import types

RLIMITS = {
    "cpu_seconds": resource.RLIMIT_CPU,
    "memory_bytes": resource.RLIMIT_AS,
    "processes": resource.RLIMIT_NPROC,
    "open_files": resource.RLIMIT_NOFILE,
    "file_bytes": resource.RLIMIT_FSIZE,
}


PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38


def apply_limits(limits):
    """Set each limit as soft and hard limit (CPU: SIGXCPU, then SIGKILL a second later)."""
    applied = {}
    for name, value in limits.items():
        kind = RLIMITS[name]
        hard = resource.getrlimit(kind)[1]
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        extra = 1 if kind == resource.RLIMIT_CPU and value != hard else 0
        resource.setrlimit(kind, (value, value + extra))
        applied[name] = value
    if limits:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return applied


if __name__ == "__main__":
    SETTINGS = json.loads(sys.argv[4])
    TEMPLATE_LIMITS = {k: v for k, v in SETTINGS["limits"].items() if k != "processes"}
    APPLIED_LIMITS = apply_limits(TEMPLATE_LIMITS)

sys.path[:0] = [os.path.dirname(os.path.abspath(__file__))] + sys.argv[3:4]
import numpy as np  # noqa: E402
import wire  # noqa: E402

MAX_TEXT = 2000
ALLOWED_KINDS = "biuf"


class StudentFailure(Exception):
    """A request could not be served because of what the student's code did."""


class ImportPolicy:
    """A meta-path finder: the submission's code may import NumPy and the standard library.

    An import made by the submission's own code (any of its frames on the stack) of any
    other top-level module fails with an ImportError that names the importing file and
    line. Imports made by NumPy or the standard library for themselves are not judged. A
    module the grader has `blocked` (its import ended or hung an earlier worker) fails
    with the grader's reason, whoever imports it.
    """

    ALLOWED = frozenset(sys.stdlib_module_names) | {"numpy"}

    def __init__(self, submission_root):
        self.submission_root = submission_root
        self.own_packages = {entry.name for entry in os.scandir(submission_root) if entry.is_dir()}
        self.blocked = {}

    def find_spec(self, name, path=None, target=None):
        if name in self.blocked:
            raise ImportError(self.blocked[name], name=name)
        top = name.partition(".")[0]
        if top in self.ALLOWED or top in self.own_packages:
            return None
        where = self.importer()
        if where is None:
            return None
        raise ModuleNotFoundError(
            f"{where} imports {top}, which this assignment does not allow "
            "(only NumPy and the standard library)",
            name=name,
        )

    def importer(self):
        """File and line of the submission's innermost frame on the stack, if any."""
        frame = sys._getframe(1)
        while frame is not None:
            located = _relative(frame.f_code.co_filename, frame.f_lineno, self.submission_root)
            if located:
                return located
            frame = frame.f_back
        return None


class Holder:
    """A plain object with whatever attributes the grader sets (a stand-in layer or model)."""

    def __repr__(self):
        return f"Holder({', '.join(sorted(vars(self)))})"


class LinearStandIn(Holder):
    """A Linear layer whose arithmetic the grader does; W and b live here, as students expect."""

    def forward(self, A):
        self.A = A
        (O,) = _callback("linear.forward", [A, self.W, self.b], id(self))
        return O

    def backward(self, dLdO):
        dLdA, self.dLdW, self.dLdb = _callback(
            "linear.backward", [dLdO, self.A, self.W, self.b], id(self)
        )
        self.dLdA = dLdA
        return dLdA

    def __call__(self, A):
        """For an MLP that calls its layers like functions."""
        return self.forward(A)


class ActivationStandIn(Holder):
    """An activation whose values and derivatives the grader computes."""

    def __init__(self, kind):
        self.kind = kind

    def forward(self, H):
        self.H = H
        (self.A,) = _callback(f"{self.kind}.forward", [H], id(self))
        return self.A

    def backward(self):
        (dAdH,) = _callback(f"{self.kind}.backward", [self.H], id(self))
        return dAdH

    def __call__(self, H):
        return self.forward(H)


COMPONENT_KINDS = {
    "Linear": "linear",
    "Identity": "identity",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "ReLU": "relu",
}
"""The handout's component classes, which an MLP may be built from stand-ins of."""


def _stand_in_factory(kind):
    """A callable that builds a stand-in where the student's code builds a component."""

    def make_linear(*args, **kwargs):
        num_inputs, num_outputs = (list(args) + list(kwargs.values()))[:2]
        layer = LinearStandIn()
        layer.size = np.array([num_inputs, num_outputs])
        layer.W = np.zeros((num_inputs, num_outputs))
        layer.b = np.zeros(num_outputs)
        layer.dLdW = layer.dLdb = None
        return layer

    def make_activation(*args, **kwargs):
        return ActivationStandIn(kind)

    factory = make_linear if kind == "linear" else make_activation
    factory.is_stand_in_factory = True
    return factory


@contextlib.contextmanager
def _components_as_stand_ins():
    """While building an object, every name bound to a handout component builds a stand-in.

    The student's own component classes are looked up in the mytorch package; each module
    of the submission that holds one of them (models/mlp.py with `from mytorch.nn import
    Linear`, or mytorch.nn itself for `nn.Linear(...)`) sees a factory instead, so an MLP
    gets stand-ins even when the student's Linear or activations are broken.
    """
    student_classes = {}
    for module_name in ("mytorch.nn", "mytorch.nn.linear", "mytorch.nn.activation"):
        module = sys.modules.get(module_name)
        for name, kind in COMPONENT_KINDS.items():
            value = getattr(module, name, None)
            if isinstance(value, type):
                student_classes[id(value)] = kind

    replaced = []
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").split(".")[0] not in ("mytorch", "models"):
            continue
        for attribute, value in list(vars(module).items()):
            kind = student_classes.get(id(value))
            if kind is not None:
                replaced.append((module, attribute, value))
                setattr(module, attribute, _stand_in_factory(kind))
    try:
        yield
    finally:
        for module, attribute, value in replaced:
            setattr(module, attribute, value)


class Worker:
    """Serves requests until the grader says `exit` or closes the channel."""

    def __init__(self, request_fd, reply_fd, submission_root):
        self.request_fd = request_fd
        self.reply_fd = reply_fd
        self.submission_root = os.path.realpath(submission_root)
        self.policy = ImportPolicy(self.submission_root)
        self.objects = {}
        self.next_ref = 1

    def serve(self):
        while True:
            try:
                header, arrays = wire.read_frame(self.request_fd)
            except wire.WireError:
                return
            if header.get("op") == "exit":
                return
            reply, reply_arrays = self.handle(header, arrays)
            reply["kind"] = "result"
            wire.write_frame(self.reply_fd, reply, reply_arrays)

    def handle(self, header, arrays):
        handler = getattr(self, "op_" + str(header.get("op")), None)
        if handler is None:
            return {"ok": False, "error": {"type": "Protocol", "message": "unknown op"}}, []
        out_arrays = []
        try:
            result = handler(header, arrays, out_arrays)
        except StudentFailure as failure:
            return {"ok": False, "error": {"type": "Failure", "message": str(failure)}}, []
        except BaseException as error:  # noqa: BLE001 - the student's SystemExit included
            return {"ok": False, "error": self.describe_error(error)}, []
        return {"ok": True, "result": result}, out_arrays

    # -- requests -------------------------------------------------------------------------

    def op_import(self, header, arrays, out_arrays):
        """Import the submission's packages; if one fails, import its files one by one.

        `header["packages"]` maps a package to its modules, in import order. A broken
        package `__init__` or a broken sibling then costs only the modules it breaks: the
        package is replaced by a stub holding what its modules that did import define.
        `header["blocked"]` maps the modules that ended or hung an earlier worker to the
        reason; they are not imported again. Before each import the worker tells the grader
        which module it is about to import, so that the grader can block the next culprit.
        """
        self.policy.blocked = dict(header.get("blocked", {}))
        status = {}
        for package, modules in header["packages"].items():
            try:
                self.announce(package)
                importlib.import_module(package)
            except BaseException as error:  # noqa: BLE001 - SystemExit at import included
                status[package] = {"ok": False, "error": self.describe_error(error)}
                self.import_one_by_one(package, modules, status)
                continue
            status[package] = {"ok": True}
            for module in modules:
                status[module] = self.try_import(module)
        return status

    def announce(self, module):
        wire.write_frame(self.reply_fd, {"kind": "progress", "module": module})

    def try_import(self, module):
        try:
            self.announce(module)
            importlib.import_module(module)
        except BaseException as error:  # noqa: BLE001
            return {"ok": False, "error": self.describe_error(error)}
        return {"ok": True}

    def import_one_by_one(self, package, modules, status):
        for name in [name for name in sys.modules if name.split(".")[0] == package]:
            del sys.modules[name]
        for name in _parents(modules):
            stub = types.ModuleType(name)
            stub.__path__ = [os.path.join(self.submission_root, *name.split("."))]
            sys.modules[name] = stub
            above, _, last = name.rpartition(".")
            if above:
                setattr(sys.modules[above], last, stub)
        for module in modules:
            status[module] = self.try_import(module)
            if not status[module]["ok"]:
                continue
            loaded = sys.modules[module]
            parent = sys.modules[module.rpartition(".")[0]]
            for attribute, value in vars(loaded).items():
                if not attribute.startswith("_") and not hasattr(parent, attribute):
                    setattr(parent, attribute, value)
        stub_nn = sys.modules.get(f"{package}.nn")
        if package == "mytorch" and stub_nn is not None:
            # So that models/mlp.py still imports when a component's file is broken.
            for name, kind in COMPONENT_KINDS.items():
                if not hasattr(stub_nn, name):
                    setattr(stub_nn, name, _stand_in_factory(kind))

    def op_new(self, header, arrays, out_arrays):
        """Build a student object; with `stand_ins`, its components are stand-ins."""
        factory = self.resolve(header["target"])
        args = [self.decode(value, arrays) for value in header.get("args", [])]
        if not header.get("stand_ins"):
            return self.encode(factory(*args), out_arrays)
        with _components_as_stand_ins():
            return self.encode(factory(*args), out_arrays)

    def op_stand_in(self, header, arrays, out_arrays):
        kind = header["kind"]
        if kind == "holder":
            made = Holder()
        elif kind == "linear":
            made = LinearStandIn()
        else:
            made = ActivationStandIn(kind)
        return self.remember(made)

    def op_get(self, header, arrays, out_arrays):
        return self.encode(self.walk(self.objects[header["ref"]], header["path"]), out_arrays)

    def op_set(self, header, arrays, out_arrays):
        *parents, last = header["path"].split(".")
        target = self.walk(self.objects[header["ref"]], ".".join(parents))
        value = self.decode(header["value"], arrays)
        if last.isdigit():
            target[int(last)] = value
        else:
            setattr(target, last, value)
        return None

    def op_call(self, header, arrays, out_arrays):
        target = self.walk(self.objects[header["ref"]], header.get("path", ""))
        method = getattr(target, header["method"])
        args = [self.decode(value, arrays) for value in header.get("args", [])]
        result = self.encode(method(*args), out_arrays)
        echoed = [self.encode(arg, out_arrays) for arg in args] if header.get("echo") else None
        return {"value": result, "args": echoed}

    def op_sequence(self, header, arrays, out_arrays):
        """Several calls in one request; a call may take an earlier call's result.

        `header["calls"]` lists {"ref", "method", "args", "keep"}; an argument
        {"result": k} is what call k returned. Returns the kept results, in order.
        """
        results, kept = [], []
        for call in header["calls"]:
            target = self.decode(call["ref"], arrays, results)
            args = [self.decode(value, arrays, results) for value in call.get("args", [])]
            results.append(getattr(target, call["method"])(*args))
            if call.get("keep"):
                kept.append(self.encode(results[-1], out_arrays))
        return kept

    def op_describe(self, header, arrays, out_arrays):
        value = self.walk(self.objects[header["ref"]], header.get("path", ""))
        description = {"type": type(value).__name__, "module": type(value).__module__}
        if isinstance(value, (list, tuple)):
            description["items"] = [_describe_item(item) for item in value]
        return description

    # -- values ---------------------------------------------------------------------------

    def resolve(self, targets):
        """The first of the dotted names that exists: `mytorch.nn.Linear`, then the file's."""
        for target in targets:
            module_name, _, attribute = target.rpartition(".")
            module = sys.modules.get(module_name)
            found = getattr(module, attribute, None)
            if found is not None and not getattr(found, "is_stand_in_factory", False):
                return found
        raise StudentFailure(f"the submission does not define {targets[0]}")

    def walk(self, value, path):
        for part in filter(None, path.split(".")):
            value = value[int(part)] if part.isdigit() else getattr(value, part)
        return value

    def remember(self, value):
        ref = self.next_ref
        self.next_ref += 1
        self.objects[ref] = value
        return {"ref": ref, "type": type(value).__name__}

    def decode(self, value, arrays, results=()):
        if isinstance(value, dict) and "array" in value:
            return arrays[value["array"]].copy()
        if isinstance(value, dict) and "ref" in value:
            return self.objects[value["ref"]]
        if isinstance(value, dict) and "result" in value:
            return results[value["result"]]
        if isinstance(value, list):
            return [self.decode(item, arrays, results) for item in value]
        return value

    def encode(self, value, out_arrays):
        """Numbers and arrays travel as arrays, None as null, anything else as a reference."""
        if value is None:
            return None
        if isinstance(value, (np.ndarray, np.generic, int, float, bool)) or _numeric_list(value):
            array = np.asarray(value)
            if array.dtype.kind not in ALLOWED_KINDS:
                raise StudentFailure(f"returned an array of dtype {array.dtype}, not numbers")
            out_arrays.append(np.array(array, copy=True))
            return {"array": len(out_arrays) - 1}
        return self.remember(value)

    def describe_error(self, error):
        """Type, message and the submission's own file and line where it happened."""
        where = None
        for frame, line in traceback.walk_tb(error.__traceback__):
            located = self.relative(frame.f_code.co_filename, line)
            if located:
                where = located
        if isinstance(error, SyntaxError) and error.filename:
            where = self.relative(error.filename, error.lineno) or where
        message = _clip(str(error))
        if isinstance(error, SystemExit):
            message = f"the submission called sys.exit({error.code!r})"
        return {"type": type(error).__name__, "message": message, "where": where}

    def relative(self, filename, line):
        return _relative(filename, line, self.submission_root)


def _relative(filename, line, submission_root):
    """ "mytorch/nn/linear.py:12" for a file of the submission; None for any other file.

    Only absolute names count: "<frozen importlib._bootstrap>" or "<string>" would
    otherwise resolve against the working directory, which is the submission.
    """
    if not filename or not os.path.isabs(filename):
        return None
    path = os.path.realpath(filename)
    if not path.startswith(submission_root + os.sep):
        return None
    return f"{os.path.relpath(path, submission_root)}:{line}"


def _describe_item(item):
    description = {"type": type(item).__name__, "module": type(item).__module__}
    if isinstance(item, ActivationStandIn):
        description["kind"] = item.kind
    return description


def _numeric_list(value):
    return isinstance(value, (list, tuple)) and all(
        isinstance(item, (int, float, np.number, list, tuple, np.ndarray)) for item in value
    )


def _parents(modules):
    """Every package above the modules, outermost first: mytorch, mytorch.nn, ..."""
    parents = []
    for module in modules:
        parts = module.split(".")
        for depth in range(1, len(parts)):
            name = ".".join(parts[:depth])
            if name not in parents:
                parents.append(name)
    return parents


def _clip(text):
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + " ..."


_WORKER = None


def _callback(op, arrays, stand_in_id):
    """Ask the grader to do a stand-in's arithmetic; its refusal raises in the caller."""
    wire.write_frame(_WORKER.reply_fd, {"kind": "callback", "op": op, "id": stand_in_id}, arrays)
    reply, reply_arrays = wire.read_frame(_WORKER.request_fd)
    if not reply.get("ok"):
        raise ValueError(reply.get("error", "the stand-in could not compute this"))
    return reply_arrays


# -- the template: one worker per rubric item ----------------------------------------------


class Template:
    """The first process of the sandbox: forks the workers and ends them, runs nothing else.

    Commands come on the control socket, one byte each: b"F" with two descriptors (the new
    worker's request and reply pipes) forks a worker; b"E" ends the current worker and
    everything below it and answers with its exit code; end of file ends the template.
    The template is a child subreaper, so nothing a worker starts can slip away from it,
    and is not dumpable, so a worker of the same uid cannot trace it.
    """

    def __init__(self, control_fd, submission_root, settings):
        self.control = socket.socket(fileno=control_fd)
        self.submission_root = submission_root
        self.settings = settings
        self.worker_pid = None

    def serve(self):
        _prctl(PR_SET_DUMPABLE, 0)
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
        self.prepare_folders()
        self.answer({"kind": "ready", "limits": APPLIED_LIMITS, "pid": os.getpid()})
        while True:
            try:
                command, fds, _, _ = socket.recv_fds(self.control, 1, 2)
            except OSError:
                break
            if command == b"F" and len(fds) == 2 and self.worker_pid is None:
                self.answer({"kind": "forked", "ok": self.fork(*fds)})
            elif command == b"E":
                self.answer({"kind": "ended", "code": self.end_worker()})
            else:
                for fd in fds:
                    os.close(fd)
                if not command:
                    break
                self.answer({"kind": "refused", "ok": False})
        self.end_worker()

    def answer(self, header):
        wire.write_frame(self.control.fileno(), header)

    def prepare_folders(self):
        """Copy the submission into its working folder; give the workers their folders."""
        if self.settings.get("copy"):
            source, target = self.settings["copy"]
            shutil.copytree(source, target, dirs_exist_ok=True)
            os.chdir(target)
        uid = self.settings.get("uid")
        for folder in self.settings.get("writable", []) if uid is not None else []:
            for directory, _, files in os.walk(folder):
                os.chown(directory, uid, uid)
                for name in files:
                    os.chown(os.path.join(directory, name), uid, uid)

    def fork(self, request_fd, reply_fd):
        """Start a worker on the two pipes; False if the fork was refused."""
        try:
            pid = os.fork()
        except OSError:
            pid = None
        if pid == 0:
            try:
                self.control.close()
                _become_worker(request_fd, reply_fd, self.submission_root, self.settings)
            finally:
                os._exit(70)
        os.close(request_fd)
        os.close(reply_fd)
        self.worker_pid = pid
        return pid is not None

    def end_worker(self):
        """Kill the worker and everything below the template; the worker's exit code."""
        code = None
        while True:
            for child in _children():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            if pid == self.worker_pid:
                code = os.waitstatus_to_exitcode(status)
        self.worker_pid = None
        return code


def _become_worker(request_fd, reply_fd, submission_root, settings):
    """In the forked child: drop to the worker's uid and limits, then serve the grader."""
    global _WORKER
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if settings.get("uid") is not None:
        _drop_privileges(settings["uid"])
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    limits = dict(APPLIED_LIMITS)
    if "processes" in settings["limits"]:
        limits.update(apply_limits({"processes": settings["limits"]["processes"]}))
    sys.path.insert(0, submission_root)
    sys.dont_write_bytecode = True

    _WORKER = Worker(request_fd, reply_fd, submission_root)
    sys.meta_path.insert(0, _WORKER.policy)
    ready = {"kind": "ready", "limits": limits, "uid": os.getuid(), "pid": os.getpid()}
    wire.write_frame(reply_fd, ready)
    _WORKER.serve()


def _drop_privileges(uid):
    """Become `uid` for good: no groups, no capabilities, no way back (as setpriv does)."""
    with open("/proc/sys/kernel/cap_last_cap") as stream:
        last_cap = int(stream.read())
    for capability in range(last_cap + 1):
        _prctl(PR_CAPBSET_DROP, capability)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    if os.getresuid() != (uid, uid, uid) or os.getgroups():
        raise OSError(f"could not become uid {uid}")


def _prctl(option, value):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}, {value}) failed")


def _children():
    """The calling process's children (re-parented orphans included), from /proc."""
    pid = os.getpid()
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as listing:
            return [int(child) for child in listing.read().split()]
    except OSError:
        pass
    children = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                if int(stat.read().rpartition(")")[2].split()[1]) == pid:
                    children.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return children


def main(argv):
    control_fd, submission_root = int(argv[1]), argv[2]
    Template(control_fd, submission_root, SETTINGS).serve()


if __name__ == "__main__":
    main(sys.argv)
