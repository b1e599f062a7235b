"""The grader's side of a worker: remote objects, calls under a time limit, restarts.

Nothing here imports or unpickles student code. A `Remote` is only a number that names an
object inside the worker; calling a method sends a frame and reads one back. When the
worker hangs, crashes or sends garbage it is killed, the call fails with `WorkerLost`, and
the next call starts a fresh worker (the student's package imported again).
"""

import logging
import os
import signal
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
        """The text printed since the last call, truncated, and resets the buffer."""
        with self.lock:
            text = self.kept.decode("utf-8", "replace")
            if self.total > len(self.kept):
                text += f"\n... ({self.total - len(self.kept)} more bytes not shown)"
            self.kept.clear()
            self.total = 0
        return text


class WorkerProcess:
    """One running worker: its process group, its two pipes and its output."""

    def __init__(self, sandbox: Sandbox, output: Output):
        request_read, self.request_fd = os.pipe()
        self.reply_fd, reply_write = os.pipe()
        output_read, output_write = os.pipe()
        try:
            self.process = subprocess.Popen(
                sandbox.command(request_read, reply_write),
                pass_fds=(request_read, reply_write),
                stdin=subprocess.DEVNULL,
                stdout=output_write,
                stderr=output_write,
                cwd=sandbox.working_directory(),
                env=sandbox.environment(),
                start_new_session=True,
                preexec_fn=sandbox.apply_limits,
            )
        finally:
            for fd in (request_read, reply_write, output_write):
                os.close(fd)
        self.drain = threading.Thread(target=_drain, args=(output_read, output), daemon=True)
        self.drain.start()

    def exchange(self, header, arrays, deadline, on_callback):
        """Send a request and return its result, serving the stand-ins' callbacks meanwhile."""
        wire.write_frame(self.request_fd, header, arrays, deadline)
        while True:
            reply, reply_arrays = wire.read_frame(self.reply_fd, deadline)
            if reply.get("kind") != "callback":
                return reply, reply_arrays
            answer, answer_arrays = on_callback(reply, reply_arrays)
            wire.write_frame(self.request_fd, answer, answer_arrays, deadline)

    def stop(self) -> str:
        """Kill the whole process group; return how the worker ended, in words."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        code = self.process.wait()
        for fd in (self.request_fd, self.reply_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.drain.join(timeout=2)
        return _describe_exit(code)


class Session:
    """All the calls made to one submission, across as many workers as it takes."""

    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox
        self.output = Output()
        self.worker: WorkerProcess | None = None
        self.generation = 0
        self.deadline = time.monotonic() + START_SECONDS
        self.imports: dict = {}
        self.stand_ins = stand_ins.Registry()
        self.exits: list[str] = []

    # -- lifetime -----------------------------------------------------------------------

    def set_deadline(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def close(self) -> None:
        """End the current worker (and everything it started)."""
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def _ensure_worker(self) -> None:
        if self.worker is not None:
            return
        self.worker = WorkerProcess(self.sandbox, self.output)
        self.generation += 1
        self.stand_ins = stand_ins.Registry()
        self.imports = self._request({"op": "import", "packages": PACKAGES})

    # -- requests -----------------------------------------------------------------------

    def _request(self, header: dict, arrays=()):
        self._ensure_worker()
        worker = self.worker
        try:
            reply, reply_arrays = worker.exchange(
                header, list(arrays), self.deadline, self.stand_ins.answer
            )
        except wire.WireTimeout:
            ended = self._lose_worker()
            raise WorkerLost(f"did not finish within the time limit (worker {ended})") from None
        except (wire.WireError, OSError) as error:
            ended = self._lose_worker()
            raise WorkerLost(f"the worker {ended} ({error})") from None

        if not reply.get("ok"):
            error = reply.get("error") or {}
            raise StudentError(
                str(error.get("message", "failed")), error.get("where"), error.get("type", "")
            )
        return self._decode(reply.get("result"), reply_arrays)

    def _decode(self, value, arrays):
        """Turn a result header back into arrays, Remotes and plain values."""
        if isinstance(value, dict) and set(value) == {"array"}:
            return _checked_array(arrays, value["array"])
        if isinstance(value, dict) and set(value) == {"ref", "type"}:
            return Remote(self, value["ref"], str(value["type"]), self.generation)
        if isinstance(value, dict):
            return {key: self._decode(item, arrays) for key, item in value.items()}
        if isinstance(value, list):
            return [self._decode(item, arrays) for item in value]
        return value

    def _lose_worker(self) -> str:
        ended = self.worker.stop()
        self.exits.append(ended)
        self.worker = None
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
        made = self._request(header, arrays)
        if not isinstance(made, Remote):
            raise StudentError(f"{targets[0]}(...) did not return an object")
        return made

    def stand_in(self, kind: str, **attributes) -> "Remote":
        """A worker-side stand-in: "holder", "linear" or an activation kind such as "relu"."""
        made = self._request({"op": "stand_in", "kind": kind})
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

    def _header(self, op: str, **fields) -> dict:
        if self.generation != self.session.generation:
            raise WorkerLost("this object was lost when an earlier failure restarted the worker")
        return {"op": op, "ref": self.ref, **fields}

    def get(self, path: str):
        """An attribute (dotted, with list indices: "layers.0.W"): array, None or Remote."""
        return self.session._request(self._header("get", path=path))

    def set(self, path: str, value) -> None:
        encoded, arrays = _encode_args([value])
        self.session._request(self._header("set", path=path, value=encoded[0]), arrays)

    def call(self, method: str, *args, path: str = "", echo: bool = False):
        """Call a method; with `echo`, also return the arguments as they were afterwards."""
        encoded, arrays = _encode_args(args)
        header = self._header("call", path=path, method=method, args=encoded, echo=echo)
        result = self.session._request(header, arrays)
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
    if code < 0:
        name = signal.Signals(-code).name
        reasons = {"SIGXCPU": " (CPU time limit)", "SIGXFSZ": " (file size limit)"}
        return f"was killed by {name}{reasons.get(name, '')}"
    return f"exited with status {code}"
