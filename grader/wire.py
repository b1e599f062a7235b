"""Frames between the grader and its worker: a JSON header and NumPy arrays, nothing else.

A frame is a `>I` length and a UTF-8 JSON header, then `header["n_arrays"]` arrays, each a
`>Q` length and the bytes of `numpy.lib.format.write_array(..., allow_pickle=False)`.
Pickles never cross: object arrays are refused, and an array header must match its data.

This module is imported on both sides of the trust boundary, so it may use only the
standard library and NumPy.
"""

import io
import json
import math
import os
import select
import struct
import time

import numpy as np

MAX_HEADER_BYTES = 1 << 20
MAX_ARRAY_BYTES = 16 << 20
MAX_ARRAYS = 256
MAX_FRAME_BYTES = 64 << 20
"""All of a frame's arrays together: a hostile worker cannot make the grader hold more."""


class WireError(Exception):
    """The other side sent something that is not a well-formed frame, or went away."""


class WireTimeout(WireError):
    """The other side did not answer before the deadline."""


def encode(header: dict, arrays=()) -> bytes:
    """Serialise one frame; `arrays` are written without pickles."""
    parts = []
    for array in arrays:
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
        data = buffer.getvalue()
        parts.append(struct.pack(">Q", len(data)) + data)

    header = dict(header, n_arrays=len(parts))
    header_bytes = json.dumps(header, allow_nan=True).encode()
    return struct.pack(">I", len(header_bytes)) + header_bytes + b"".join(parts)


def write_frame(fd: int, header: dict, arrays=(), deadline: float | None = None) -> None:
    """Write a whole frame to `fd`; with a deadline, give up when the reader stalls."""
    data = memoryview(encode(header, arrays))
    while data:
        if deadline is not None:
            _wait(fd, deadline, for_write=True)
        try:
            written = os.write(fd, data)
        except BrokenPipeError as error:
            raise WireError("the other side closed the channel") from error
        data = data[written:]


def read_frame(fd: int, deadline: float | None = None) -> tuple[dict, list[np.ndarray]]:
    """Read one frame from `fd`, enforcing the size limits and, if given, the deadline."""
    (header_length,) = struct.unpack(">I", _read_exact(fd, 4, deadline))
    if header_length > MAX_HEADER_BYTES:
        raise WireError(f"header of {header_length} bytes is over the limit")
    try:
        header = json.loads(_read_exact(fd, header_length, deadline))
    except (ValueError, RecursionError) as error:
        raise WireError("header is not valid JSON") from error
    if not isinstance(header, dict):
        raise WireError("header is not a JSON object")

    n_arrays = header.get("n_arrays", 0)
    if not isinstance(n_arrays, int) or not 0 <= n_arrays <= MAX_ARRAYS:
        raise WireError(f"bad array count {n_arrays!r}")
    arrays, frame_bytes = [], 0
    for _ in range(n_arrays):
        (array_length,) = struct.unpack(">Q", _read_exact(fd, 8, deadline))
        frame_bytes += array_length
        if array_length > MAX_ARRAY_BYTES or frame_bytes > MAX_FRAME_BYTES:
            raise WireError(f"array of {array_length} bytes is over the limit")
        arrays.append(_decode_array(_read_exact(fd, array_length, deadline)))
    return header, arrays


def _decode_array(data: bytes) -> np.ndarray:
    """Parse one `.npy`: no objects, and the declared shape must fit the bytes that came.

    (`np.lib.format.read_array` would allocate whatever shape the header declares before
    finding out that the data is missing.)
    """
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except (ValueError, OSError, EOFError, SyntaxError) as error:
        raise WireError(f"malformed array: {error}") from error

    if dtype.hasobject or dtype.itemsize == 0:
        raise WireError(f"array of dtype {dtype} cannot cross the channel")
    offset = stream.tell()
    if math.prod(shape) * dtype.itemsize != len(data) - offset:
        raise WireError(f"array of shape {shape} does not match its {len(data) - offset} bytes")
    flat = np.frombuffer(data, dtype=dtype, offset=offset)
    return flat.reshape(shape, order="F" if fortran_order else "C").copy()


def _read_exact(fd: int, n_bytes: int, deadline: float | None) -> bytes:
    chunks = []
    while n_bytes:
        if deadline is not None:
            _wait(fd, deadline, for_write=False)
        chunk = os.read(fd, min(n_bytes, 1 << 20))
        if not chunk:
            raise WireError("the other side closed the channel")
        chunks.append(chunk)
        n_bytes -= len(chunk)
    return b"".join(chunks)


def _wait(fd: int, deadline: float, for_write: bool) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise WireTimeout("no answer before the time limit")
    if for_write:
        _, ready, _ = select.select([], [fd], [], remaining)
    else:
        ready, _, _ = select.select([fd], [], [], remaining)
    if not ready:
        raise WireTimeout("no answer before the time limit")
