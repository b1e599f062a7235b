"""The grader's side of a worker: remote objects, calls under a time limit, restarts.

Nothing here imports or unpickles student code. A `Remote` is only a number that names an
object inside the worker; calling a method sends a frame and reads one back. When the
worker hangs, crashes or sends garbage it is killed, the call fails with `WorkerLost`, and
the next call starts a fresh worker (the student's package imported again). Every rubric
item also gets a fresh worker, forked from a template that imported NumPy once and never
runs student code, so nothing one item's code did survives into the next, at the cost
of a fork. Whatever the worker sends is treated as
hostile: strings are clipped, stand-in arithmetic is done only for the stand-ins the
grader put in place, and a module whose import ends or hangs the worker is left out of
the next worker's import.
"""

import contextlib
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from grader import stand_ins, wire
from grader.sandbox import Sandbox

log = logging.getLogger(__name__)

PACKAGES = {
    "mytorch": [
        "mytorch.nn.linear",
        "mytorch.nn.loss",
        "mytorch.nn.activation",
        "mytorch.optim.sgd",
    ],
    "models": ["models.mlp"],
}
"""The submission's packages and their modules, in the order the worker imports them."""

OUTPUT_KEPT_BYTES = 16 << 10
START_SECONDS = 20.0
"""Until a new worker says it is ready (Python, NumPy and the limits set); not an item's time."""
STOP_SECONDS = 2.0
"""How long the template gets to end a worker, and the shepherd to end everything below it."""
MAX_TEXT = 2000
"""Longest string from the worker kept in a message (student text goes into results.json)."""
REFUSED_CALLBACK = (
    "the grader computes Linear and activation results only for the stand-ins it put into "
    "the object under test"
)


class StudentError(Exception):
    """The student's code raised, returned something unusable, or is missing a name."""

    def __init__(self, message: str, where: str | None = None, error_type: str = ""):
        super().__init__(message)
        self.where = where
        self.error_type = error_type

    def __str__(self) -> str:
        message = self.args[0]
        text = ": ".join(part for part in (self.error_type, message) if part)
        return f"{text} (at {self.where})" if self.where else text


class WorkerLost(Exception):
    """The worker died, hung past the time limit, or broke the protocol."""


@dataclass
class Output:
    """What the student's code printed, kept up to a limit."""

    kept: bytearray = field(default_factory=bytearray)
    total: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, chunk: bytes) -> None:
        with self.lock:
            self.total += len(chunk)
            room = OUTPUT_KEPT_BYTES - len(self.kept)
            if room > 0:
                self.kept += chunk[:room]

    def take(self) -> str:
        """The text printed since the last call, truncated, and resets the buffer.

        When the text was cut, a first line says so (where a later cut cannot hide it).
        """
        with self.lock:
            text = self.kept.decode("utf-8", "replace")
            if self.total > len(self.kept):
                cut = f"[{self.total} bytes printed; only the first {len(self.kept)} are kept]"
                text = f"{cut}\n{text}"
            self.kept.clear()
            self.total = 0
        return text


class Template:
    """The sandbox's first process, behind its shepherd: it forks one worker per item.

    The grader talks to it on a Unix socket: b"F" with a new worker's two pipe ends forks
    a worker, b"E" ends the current worker (and everything below the template) and answers
    with its exit code. Anything wrong on this channel (an answer late or malformed, the
    template gone) ends the whole sandbox, through the shepherd.
    """

    def __init__(self, sandbox: Sandbox, output: Output):
        self.control, control_end = socket.socketpair()
        output_read, output_write = os.pipe()
        try:
            self.process = subprocess.Popen(
                sandbox.command(control_end.fileno()),
                pass_fds=(control_end.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=output_write,
                stderr=output_write,
                cwd=sandbox.working_directory(),
                env=sandbox.environment(),
                start_new_session=True,
            )
        except BaseException:
            self.control.close()
            os.close(output_read)
            raise
        finally:
            control_end.close()
            os.close(output_write)
        self.drain = threading.Thread(target=_drain, args=(output_read, output), daemon=True)
        self.drain.start()

    def answer(self, kind: str, deadline: float) -> dict:
        """The template's next frame, which must be of `kind`."""
        header, _ = wire.read_frame(self.control.fileno(), deadline)
        if header.get("kind") != kind:
            raise wire.WireError(f"the template answered {header.get('kind')!r}, not {kind!r}")
        return header

    def fork(self, deadline: float) -> "Worker":
        """A new worker on pipes of its own (its ready frame is still to be read)."""
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        try:
            socket.send_fds(self.control, [b"F"], [request_read, reply_write])
        finally:
            os.close(request_read)
            os.close(reply_write)
        worker = Worker(request_write, reply_read)
        if not self.answer("forked", deadline).get("ok"):
            worker.close()
            raise wire.WireError("the template could not fork a worker")
        return worker

    def end_worker(self) -> int | None:
        """Kill the current worker and what it started; its exit code (None: not known)."""
        self.control.sendall(b"E")
        code = self.answer("ended", time.monotonic() + STOP_SECONDS).get("code")
        return code if isinstance(code, int) else None

    def stop(self) -> str:
        """End the template and everything below it; how the template ended, in words.

        The shepherd, sent SIGTERM, kills and reaps everything below it. If it does not
        (a same-uid worker killed it), its process group is killed.
        """
        self.control.close()
        pid = self.process.pid
        if self.process.returncode is None:
            os.kill(pid, signal.SIGTERM)
            _wait_for_exit(pid, STOP_SECONDS)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        code = self.process.wait()
        self.drain.join(timeout=2)
        return _describe_exit(code)


class Worker:
    """The grader's end of one worker's two pipes."""

    def __init__(self, request_fd: int, reply_fd: int):
        self.request_fd = request_fd
        self.reply_fd = reply_fd
        self.importing: str | None = None
        """The module the worker last said it was about to import."""

    def wait_ready(self, deadline: float) -> dict:
        """The worker's first frame, sent before any student code ran: the limits it set."""
        header, _ = wire.read_frame(self.reply_fd, deadline)
        if header.get("kind") != "ready":
            raise wire.WireError("the worker did not say it was ready")
        return header

    def exchange(self, header, arrays, deadline, on_callback):
        """Send a request and return its result, serving the stand-ins' callbacks meanwhile."""
        wire.write_frame(self.request_fd, header, arrays, deadline)
        while True:
            reply, reply_arrays = wire.read_frame(self.reply_fd, deadline)
            kind = reply.get("kind")
            if kind == "progress":
                self.importing = _clip(reply.get("module"))
                continue
            if kind != "callback":
                return reply, reply_arrays
            answer, answer_arrays = on_callback(reply, reply_arrays)
            wire.write_frame(self.request_fd, answer, answer_arrays, deadline)

    def close(self) -> None:
        for fd in (self.request_fd, self.reply_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


class Session:
    """All the calls made to one submission, across as many workers as it takes."""

    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox
        self.output = Output()
        self.template: Template | None = None
        self.worker: Worker | None = None
        self.generation = 0
        self.time_limit = START_SECONDS
        self.deadline = time.monotonic() + START_SECONDS
        self.imports: dict = {}
        self.stand_ins = stand_ins.Registry()
        self.blocked: dict[str, str] = {}
        """Modules whose import ended or hung a worker, and why; later workers skip them."""
        self.start_failure: str | None = None

    # -- lifetime -----------------------------------------------------------------------

    def set_deadline(self, seconds: float) -> None:
        """Start a rubric item: a fresh worker for it, and `seconds` of wall-clock time.

        The time a worker takes to start and import the submission is not counted.
        """
        self._end_worker()
        self.start_failure = None
        self.time_limit = seconds
        self.deadline = time.monotonic() + seconds

    def close(self) -> None:
        """End every process of the session: worker, template, shepherd."""
        self._end_worker()
        self._end_template()

    def _end_worker(self) -> str:
        """End the current worker and whatever it started; how it ended, in words."""
        if self.worker is None:
            return "was not running"
        self.worker.close()
        self.worker = None
        try:
            code = self.template.end_worker()
            ended = "ended" if code is None else _describe_exit(code)
        except (wire.WireError, OSError):
            ended = f"was lost with its template, which {self._end_template()}"
        self.sandbox.sweep()
        return ended

    def _end_template(self) -> str:
        if self.template is None:
            return "was not running"
        ended = self.template.stop()
        self.template = None
        self.sandbox.sweep()
        return ended

    def _ensure_worker(self) -> None:
        if self.worker is not None:
            return
        if self.start_failure is not None:
            raise WorkerLost(self.start_failure)
        started = time.monotonic()
        try:
            self.imports = self._start_and_import()
        except WorkerLost as lost:
            self.start_failure = str(lost)
            raise
        finally:
            self.deadline += time.monotonic() - started

    def _start_and_import(self) -> dict:
        """Start a worker and import the submission into it.

        A module whose import ends or hangs the worker is blocked, and the import is tried
        again in a fresh worker without it, so that it costs only the items that need it.
        """
        names = set(PACKAGES) | {module for modules in PACKAGES.values() for module in modules}
        while True:
            self._start_worker()
            header = {"op": "import", "packages": PACKAGES, "blocked": self.blocked}
            deadline = time.monotonic() + self.time_limit
            try:
                reply, _ = self.worker.exchange(header, [], deadline, _refuse_callback)
                return _import_status(reply, names)
            except wire.WireError as error:
                culprit = self.worker.importing
                timed_out = isinstance(error, wire.WireTimeout)
                ended = self._lose_worker()
            if culprit not in names or culprit in self.blocked:
                raise WorkerLost(f"the worker {ended} while importing the submission")
            if timed_out:
                self.blocked[culprit] = f"importing {culprit} did not finish within the time limit"
            else:
                self.blocked[culprit] = f"importing {culprit} ended the worker (it {ended})"
            log.info("blocked %s: %s", culprit, self.blocked[culprit])

    def _start_worker(self) -> None:
        """Fork a worker from the template (started first if need be) and wait until ready.

        A template that does not answer is replaced once; a worker that does not become
        ready means the sandbox cannot run here, which the caller reports.
        """
        for attempt in range(2):
            worker = None
            try:
                if self.template is None:
                    self.template = Template(self.sandbox, self.output)
                    self.template.answer("ready", time.monotonic() + START_SECONDS)
                deadline = time.monotonic() + START_SECONDS
                worker = self.template.fork(deadline)
                ready = worker.wait_ready(deadline)
                break
            except (wire.WireError, OSError) as error:
                if worker is not None:
                    worker.close()
                ended = self._end_template()
                log.info("the worker's template %s (%s)", ended, error)
                if attempt == 1:
                    raise WorkerLost(f"the worker could not start: its template {ended}") from None

        limits = ready.get("limits")
        if isinstance(limits, dict):
            self.sandbox.isolation.limits = {str(key): value for key, value in limits.items()}
        self.worker = worker
        self.generation += 1
        self.stand_ins = stand_ins.Registry()

    # -- requests -----------------------------------------------------------------------

    def _request(self, header: dict, arrays=(), stand_ins: bool = False):
        """Send one request; with `stand_ins`, answer the stand-ins' callbacks it makes."""
        self._ensure_worker()
        worker = self.worker
        on_callback = self.stand_ins.answer if stand_ins else _refuse_callback
        try:
            reply, reply_arrays = worker.exchange(header, list(arrays), self.deadline, on_callback)
        except wire.WireTimeout:
            ended = self._lose_worker()
            raise WorkerLost(f"did not finish within the time limit (worker {ended})") from None
        except (wire.WireError, OSError) as error:
            ended = self._lose_worker()
            raise WorkerLost(f"the worker {ended} ({error})") from None

        if not reply.get("ok"):
            error = _error_fields(reply.get("error"))
            raise StudentError(error["message"], error["where"], error["type"])
        return self._decode(reply.get("result"), reply_arrays, stand_ins)

    def _decode(self, value, arrays, stand_ins: bool = False):
        """Turn a result header back into arrays, Remotes and plain (clipped) values."""
        if isinstance(value, dict) and set(value) == {"array"}:
            return _checked_array(arrays, value["array"])
        if isinstance(value, dict) and set(value) == {"ref", "type"}:
            remote = Remote(self, value["ref"], _clip(value["type"]), self.generation)
            remote.stand_ins = stand_ins
            return remote
        if isinstance(value, dict):
            return {
                _clip(key): self._decode(item, arrays, stand_ins) for key, item in value.items()
            }
        if isinstance(value, list):
            return [self._decode(item, arrays, stand_ins) for item in value]
        if isinstance(value, str):
            return _clip(value)
        return value

    def _lose_worker(self) -> str:
        ended = self._end_worker()
        log.info("the worker %s", ended)
        return ended

    def import_status(self) -> dict:
        """Per package and module: {"ok": bool, "error": {type, message, where}}."""
        self._ensure_worker()
        return self.imports

    def new(self, *targets: str, args=(), stand_ins: bool = False) -> "Remote":
        """Build a student object: `new("mytorch.nn.Linear", "mytorch.nn.linear.Linear")`.

        With `stand_ins`, the handout's components (Linear, activations) that the object's
        constructor builds are worker-side stand-ins instead of the student's classes.
        """
        encoded, arrays = _encode_args(args)
        header = {"op": "new", "target": list(targets), "args": encoded, "stand_ins": stand_ins}
        made = self._request(header, arrays, stand_ins or _has_stand_ins(args))
        if not isinstance(made, Remote):
            raise StudentError(f"{targets[0]}(...) did not return an object")
        return made

    def stand_in(self, kind: str, **attributes) -> "Remote":
        """A worker-side stand-in: "holder", "linear" or an activation kind such as "relu"."""
        made = self._request({"op": "stand_in", "kind": kind}, stand_ins=True)
        for name, value in attributes.items():
            made.set(name, value)
        return made


class Result:
    """In a Sequence, what an earlier call returned (it stays in the worker)."""

    def __init__(self, index: int):
        self.index = index


class Sequence:
    """Calls sent to the worker in one request: for loops of many small calls (training)."""

    def __init__(self):
        self.calls: list[dict] = []
        self.arrays: list[np.ndarray] = []

    def call(self, target: "Remote | Result", method: str, *args, keep: bool = False) -> Result:
        """Queue `target.method(*args)`; with `keep`, its result is sent back."""
        encoded, arrays = _encode_args([target, *args], offset=len(self.arrays))
        self.arrays += arrays
        self.calls.append({"ref": encoded[0], "method": method, "args": encoded[1:], "keep": keep})
        return Result(len(self.calls) - 1)

    def run(self, session: "Session") -> list:
        """Run every queued call; returns the kept results in order."""
        return session._request({"op": "sequence", "calls": self.calls}, self.arrays)


class Remote:
    """A student (or stand-in) object that lives in the worker, named by a number."""

    def __init__(self, session: Session, ref: int, type_name: str, generation: int):
        self.session = session
        self.ref = ref
        self.type_name = type_name
        self.generation = generation
        self.stand_ins = False
        """Whether the grader put stand-ins into (or made) this object: only its calls get
        stand-in arithmetic, so student code cannot use the stand-ins as an oracle."""

    def _header(self, op: str, **fields) -> dict:
        if self.generation != self.session.generation:
            raise WorkerLost("this object was lost when an earlier failure restarted the worker")
        return {"op": op, "ref": self.ref, **fields}

    def get(self, path: str):
        """An attribute (dotted, with list indices: "layers.0.W"): array, None or Remote."""
        return self.session._request(self._header("get", path=path), stand_ins=self.stand_ins)

    def set(self, path: str, value) -> None:
        encoded, arrays = _encode_args([value])
        self.stand_ins = self.stand_ins or _has_stand_ins([value])
        self.session._request(self._header("set", path=path, value=encoded[0]), arrays)

    def call(self, method: str, *args, path: str = "", echo: bool = False):
        """Call a method; with `echo`, also return the arguments as they were afterwards."""
        encoded, arrays = _encode_args(args)
        header = self._header("call", path=path, method=method, args=encoded, echo=echo)
        stand_ins = self.stand_ins or _has_stand_ins(args)
        result = self.session._request(header, arrays, stand_ins)
        if not isinstance(result, dict) or not {"value", "args"} <= set(result):
            raise StudentError("the worker's answer to a call was malformed")
        return (result["value"], result["args"]) if echo else result["value"]

    def describe(self, path: str = "") -> dict:
        return self.session._request(self._header("describe", path=path))

    def __repr__(self) -> str:
        return f"<remote {self.type_name} #{self.ref}>"


def _encode_args(values, offset: int = 0) -> tuple[list, list[np.ndarray]]:
    """Arguments as JSON, with arrays numbered from `offset` in the returned list."""
    arrays: list[np.ndarray] = []

    def encode(value):
        if isinstance(value, Remote):
            return {"ref": value._header("ref")["ref"]}
        if isinstance(value, Result):
            return {"result": value.index}
        if isinstance(value, np.ndarray):
            arrays.append(value)
            return {"array": offset + len(arrays) - 1}
        if isinstance(value, (list, tuple)):
            return [encode(item) for item in value]
        if isinstance(value, np.generic):
            return value.item()
        return value

    return [encode(value) for value in values], arrays


def _has_stand_ins(values) -> bool:
    """Whether any of `values` (lists searched) is a Remote that holds the grader's stand-ins."""
    for value in values:
        if isinstance(value, Remote) and value.stand_ins:
            return True
        if isinstance(value, (list, tuple)) and _has_stand_ins(value):
            return True
    return False


def _refuse_callback(header: dict, arrays: list) -> tuple[dict, list]:
    """The answer to a callback from code the grader gave no stand-ins to."""
    return {"kind": "reply", "ok": False, "error": REFUSED_CALLBACK}, []


def _clip(text, limit: int = MAX_TEXT) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit] + " ..."


def _error_fields(error) -> dict:
    """The type, message and place of a worker's error report, as short strings."""
    error = error if isinstance(error, dict) else {}
    where = error.get("where")
    return {
        "type": _clip(error.get("type", ""), 100),
        "message": _clip(error.get("message", "failed")),
        "where": _clip(where, 300) if where else None,
    }


def _import_status(reply: dict, names: set[str]) -> dict:
    """The worker's import report, reduced to the submission's known module names."""
    result = reply.get("result") if reply.get("ok") else None
    result = result if isinstance(result, dict) else {}
    status = {}
    for name in names:
        entry = result.get(name)
        entry = entry if isinstance(entry, dict) else {}
        if entry.get("ok") is True:
            status[name] = {"ok": True}
        else:
            fallback = {"type": "ImportError", "message": f"{name} was not imported"}
            status[name] = {"ok": False, "error": _error_fields(entry.get("error") or fallback)}
    return status


def _wait_for_exit(pid: int, seconds: float) -> None:
    """Wait until the child `pid` has exited, without reaping it (its pid stays reserved)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return
        except ChildProcessError:
            return
        time.sleep(0.002)


def _checked_array(arrays, index) -> np.ndarray:
    if not isinstance(index, int) or not 0 <= index < len(arrays):
        raise WorkerLost("the worker referred to an array it did not send")
    array = arrays[index]
    if array.dtype.kind not in "biuf":
        raise StudentError(f"returned an array of dtype {array.dtype}, not real numbers")
    return array


def _drain(fd: int, output: Output) -> None:
    """Read the worker's stdout and stderr to the end, keeping the first bytes."""
    with os.fdopen(fd, "rb", buffering=0) as stream:
        while chunk := stream.read(1 << 16):
            output.add(chunk)


def _describe_exit(code: int) -> str:
    if code is None:
        return "is still running"
    if code == 127:
        return "could not be started (exit status 127)"
    if code < 0:
        name = signal.Signals(-code).name
        reasons = {"SIGXCPU": " (CPU time limit)", "SIGXFSZ": " (file size limit)"}
        return f"was killed by {name}{reasons.get(name, '')}"
    return f"exited with status {code}"
