"""The arithmetic of the worker's stand-in layers, done here on the trusted side.

To grade a student's MLP wiring or SGD without their Linear and activations, the grader
puts stand-ins into the student's model. A stand-in's `forward` or `backward` sends its
inputs here and gets the correct result back, so the student's own wiring (which layer
is called, in which order, with which gradient) is all that is being graded, and no
solution code ever runs in the worker. Every call is recorded for the diagnoses.
"""

from dataclasses import dataclass

import numpy as np


@dataclass
class Call:
    """One stand-in call as the student's code made it."""

    stand_in: int
    """The stand-in's identity inside the worker."""
    op: str
    """"linear.forward", "relu.backward", ..."""
    inputs: list[np.ndarray]


class StandInError(ValueError):
    """The student's code called a stand-in with arrays it cannot work with."""


def _sigmoid(H):
    return np.exp(-np.logaddexp(0.0, -H))


ACTIVATIONS = {
    "identity": (lambda H: H.copy(), lambda H: np.ones_like(H)),
    "sigmoid": (_sigmoid, lambda H: _sigmoid(H) * (1.0 - _sigmoid(H))),
    "tanh": (np.tanh, lambda H: 1.0 - np.tanh(H) ** 2),
    "relu": (lambda H: np.maximum(H, 0.0), lambda H: (H > 0).astype(np.float64)),
}


class Registry:
    """Answers the stand-ins' callbacks for one worker and keeps the trace."""

    def __init__(self):
        self.calls: list[Call] = []

    def answer(self, header: dict, arrays: list[np.ndarray]) -> tuple[dict, list[np.ndarray]]:
        """Compute one callback; a bad input becomes an error the student's code sees."""
        op = str(header.get("op"))
        inputs = [np.asarray(array, dtype=np.float64) for array in arrays]
        self.calls.append(Call(header.get("id"), op, inputs))
        try:
            outputs = self._compute(op, inputs)
        except StandInError as error:
            return {"kind": "reply", "ok": False, "error": str(error)}, []
        return {"kind": "reply", "ok": True}, outputs

    def _compute(self, op: str, inputs: list[np.ndarray]) -> list[np.ndarray]:
        kind, _, direction = op.partition(".")
        if kind == "linear" and direction == "forward":
            A, W, b = _expect(inputs, 3, op)
            _check_linear(A, W, b, "its input A")
            return [A @ W + b.reshape(1, -1)]
        if kind == "linear" and direction == "backward":
            dLdO, A, W, b = _expect(inputs, 4, op)
            _check_linear(A, W, b, "the A of its forward")
            if dLdO.shape != (A.shape[0], W.shape[1]):
                raise StandInError(
                    f"Linear.backward got dLdO of shape {dLdO.shape}; its output has shape "
                    f"{(A.shape[0], W.shape[1])}"
                )
            return [dLdO @ W.T, A.T @ dLdO, dLdO.sum(axis=0).reshape(b.shape)]
        if kind in ACTIVATIONS and direction in ("forward", "backward"):
            (H,) = _expect(inputs, 1, op)
            value, derivative = ACTIVATIONS[kind]
            return [value(H) if direction == "forward" else derivative(H)]
        raise StandInError(f"unknown stand-in operation {op}")

    def of(self, op: str) -> list[Call]:
        return [call for call in self.calls if call.op == op]


def _expect(inputs, count, op):
    if len(inputs) != count:
        raise StandInError(f"{op} was sent {len(inputs)} arrays, expected {count}")
    return inputs


def _check_linear(A, W, b, what):
    if A.ndim != 2 or W.ndim != 2 or A.shape[1] != W.shape[0] or b.size != W.shape[1]:
        raise StandInError(
            f"a Linear layer with W of shape {W.shape} and b of shape {b.shape} cannot take "
            f"{what} of shape {A.shape}"
        )
