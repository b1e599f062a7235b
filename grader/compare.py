"""Compare a student's array with torch's, and say what differs in words a student can use.

Failures never show the hidden expected values: only shapes, the size and place of the
largest error, and the likely cause when the numbers show one.
"""

from dataclasses import dataclass, field

import numpy as np


class CheckFailed(AssertionError):
    """A comparison failed; the message is the student's feedback."""


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float

    def describe(self) -> str:
        return f"rtol={self.rtol:g}, atol={self.atol:g}"


@dataclass
class Context:
    """What a diagnosis may use: the case, its sizes, its inputs, what was observed."""

    case: str
    description: str = ""
    """The case as a student may see it: its seed and input shapes, never expected values."""
    sizes: dict[str, int] = field(default_factory=dict)
    """Named dimensions of the case, e.g. {"N": 5, "q": 3}, for "off by a factor N"."""
    inputs: dict[str, np.ndarray] = field(default_factory=dict)
    """Inputs whose sign may explain an error (the activations' H)."""
    baseline: np.ndarray | None = None
    """For a quantity that is updated (W after a step): its value before the update."""
    lr: float | None = None
    """The learning rate of that update, to recognise a step that ignores it."""
    notes: list[str] = field(default_factory=list)
    """Facts seen while running the case that may explain a failure (an input changed)."""
    known_mistakes: dict[str, np.ndarray] = field(default_factory=dict)
    """Values that common wrong formulas give, by a description of the mistake."""

    @property
    def label(self) -> str:
        return f"case {self.case}" + (f": {self.description}" if self.description else "")

    def note_if_modified(self, what: str, after, before: np.ndarray) -> None:
        """Record that a method changed its input array in place (the worker echoes inputs)."""
        if isinstance(after, np.ndarray) and after.shape == before.shape:
            if np.array_equal(after, before, equal_nan=True):
                return
        self.notes.append(f"{what} modified its input array in place")


def tolerance_for(actual: np.ndarray, item) -> Tolerance:
    """The item's tolerance, or its float32 one when the student computed in float32."""
    if actual.dtype == np.float32 or actual.dtype == np.float16:
        return Tolerance(item.rtol_float32, item.atol_float32)
    return Tolerance(item.rtol, item.atol)


def check(name: str, actual, expected: np.ndarray, context: Context, item, vector=False) -> None:
    """Raise CheckFailed unless `actual` matches `expected` within the item's tolerance.

    With `vector`, any shape holding the same number of values passes (a bias or its
    gradient may be (h,), (h, 1) or (1, h)); a scalar may be 0-d or hold one value.
    """
    where = f"({context.label})"
    if actual is None:
        raise CheckFailed(f"{name} {where}: the method returned None instead of an array")
    if isinstance(actual, np.generic):
        actual = np.asarray(actual)
    if not isinstance(actual, np.ndarray):
        raise CheckFailed(f"{name} {where}: expected an array, got {type(actual).__name__}")
    tolerance = tolerance_for(actual, item)
    values = actual.astype(np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    shapes = f"your shape {actual.shape}, expected {expected.shape}; " if expected.ndim else ""

    if vector or expected.ndim == 0:
        if values.size != expected.size:
            raise CheckFailed(
                f"{name} {where}: holds {values.size} values, expected {expected.size} "
                f"(shape {values.shape}, expected {expected.shape})"
            )
        values, expected = values.reshape(-1), expected.reshape(-1)
    elif values.shape != expected.shape:
        if values.shape == expected.T.shape and _close(values.T, expected, tolerance):
            raise CheckFailed(
                f"{name} {where}: your shape {values.shape}, expected {expected.shape}; "
                "the values are right but transposed"
            )
        raise CheckFailed(f"{name} {where}: your shape {values.shape}, expected {expected.shape}")

    if _close(values, expected, tolerance):
        return
    detail = _describe_error(values, expected, tolerance, context)
    raise CheckFailed(f"{name} {where}: {shapes}{detail}")


def _close(values, expected, tolerance) -> bool:
    return bool(np.allclose(values, expected, rtol=tolerance.rtol, atol=tolerance.atol))


def _describe_error(values, expected, tolerance, context) -> str:
    finite = np.isfinite(values)
    if not finite.all() and np.isfinite(expected).all():
        count = int((~finite).sum())
        return (
            f"{count} value(s) are NaN or inf where torch's are finite; "
            "likely overflow on large inputs (shift by the max, or use a stable formula)"
        )

    error = np.abs(values - expected)
    worst = np.unravel_index(int(np.argmax(error)), error.shape)
    relative = error / np.maximum(np.abs(expected), 1e-12)
    at = f" at {list(map(int, worst))}" if error.size > 1 else ""
    text = (
        f"max abs error {error[worst]:.3g}{at}, "
        f"max rel error {float(relative.max()):.3g} (tolerance {tolerance.describe()})"
    )
    causes = [cause for cause in [likely_cause(values, expected, tolerance, context)] if cause]
    causes += context.notes
    return f"{text}; likely cause: {'; '.join(causes)}" if causes else text


def likely_cause(values, expected, tolerance, context) -> str | None:
    """A recognisable reason for the difference, or None when the numbers show none."""
    if context.baseline is not None:
        return _update_cause(values, expected, context)
    for mistake, wrong in context.known_mistakes.items():
        wrong = np.asarray(wrong, dtype=np.float64).reshape(values.shape)
        if _close(values, wrong, tolerance):
            return mistake
    if expected.ndim == 2 and expected.shape[0] == expected.shape[1]:
        if _close(values, expected.T, tolerance):
            return "transposed"
    if _close(-values, expected, tolerance):
        return "wrong sign"

    factor = _constant_factor(values, expected)
    if factor is not None:
        return f"off by a constant factor {_name_factor(factor, context.sizes)}"

    for input_name, array in context.inputs.items():
        if array.shape != expected.shape:
            continue
        positive, negative = array > 0, array < 0
        right = np.isclose(values, expected, rtol=tolerance.rtol, atol=tolerance.atol)
        if right[positive].all() and not right[negative].all():
            return f"correct only where {input_name} > 0"
        if right[negative].all() and not right[positive].all():
            return f"correct only where {input_name} < 0"
    return None


def _update_cause(values, expected, context) -> str | None:
    """For an updated quantity, diagnose the update itself (new value minus old)."""
    baseline = np.asarray(context.baseline, dtype=np.float64).reshape(values.shape)
    step, expected_step = values - baseline, expected - baseline
    if np.allclose(step, 0, atol=1e-12):
        return "the value did not change: the step was not applied"
    if np.allclose(-step, expected_step, rtol=1e-6, atol=1e-12):
        return "the step has the wrong sign (it climbs the loss instead of descending)"
    factor = _constant_factor(step, expected_step)
    if factor is None:
        return None
    if context.lr and np.isclose(factor, 1 / context.lr, rtol=1e-6):
        return "the step ignores the learning rate (it moves by dLdW instead of lr * dLdW)"
    return f"the step is off by a constant factor {_name_factor(factor, context.sizes)}"


def _constant_factor(values, expected) -> float | None:
    mask = np.abs(expected) > 1e-9
    if mask.sum() < 1:
        return None
    ratios = values[mask] / expected[mask]
    factor = float(np.median(ratios))
    if not np.isfinite(factor) or abs(factor) < 1e-12 or np.isclose(factor, 1.0, rtol=1e-6):
        return None
    if not np.allclose(ratios, factor, rtol=1e-6, atol=0):
        return None
    if not np.allclose(values[~mask], 0, atol=1e-9):
        return None
    return factor


def _name_factor(factor: float, sizes: dict[str, int]) -> str:
    """Name a factor by the case's sizes: 2, N, 1/N, 2/q, N*q, ..."""
    candidates = {"2": 2.0, "1/2": 0.5}
    for name, size in sizes.items():
        if size > 1:
            candidates[name] = float(size)
            candidates[f"1/{name}"] = 1.0 / size
            candidates[f"2*{name}"] = 2.0 * size
            candidates[f"1/(2*{name})"] = 1.0 / (2 * size)
            candidates[f"2/{name}"] = 2.0 / size
    names = [name for name, size in sizes.items() if size > 1]
    for first in names:
        for second in names:
            if first < second:
                product = float(sizes[first] * sizes[second])
                candidates[f"{first}*{second}"] = product
                candidates[f"1/({first}*{second})"] = 1.0 / product
    for name, value in candidates.items():
        if np.isclose(factor, value, rtol=1e-6):
            return f"{name} (your values are {name} times torch's)"
    return f"{factor:.4g} (your values are {factor:.4g} times torch's)"
