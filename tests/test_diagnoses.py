"""Each diagnosis names its cause on a value that shows it, and stays silent on a right one."""

import numpy as np
import pytest

from grader.compare import CheckFailed, Context, check
from grader.rubric import load

ITEM = load().item("1c")
RNG = np.random.default_rng(7)
EXPECTED = RNG.normal(size=(4, 3))
SQUARE = RNG.normal(size=(4, 4))
H = np.linspace(-3, 3, 12).reshape(3, 4) + 0.1


def _failure(actual, expected, context=None, vector=False) -> str:
    with pytest.raises(CheckFailed) as failure:
        check(
            "dLdW", actual, expected, context or Context("c", sizes={"N": 4, "q": 3}), ITEM, vector
        )
    return str(failure.value)


@pytest.mark.parametrize(
    "actual,expected,cause",
    [
        (EXPECTED.T, EXPECTED, "the values are right but transposed"),
        (SQUARE.T, SQUARE, "likely cause: transposed"),
        (-EXPECTED, EXPECTED, "likely cause: wrong sign"),
        (EXPECTED * 4, EXPECTED, "constant factor N"),
        (EXPECTED / 4, EXPECTED, "constant factor 1/N"),
        (EXPECTED * 3, EXPECTED, "constant factor q"),
        (EXPECTED * 2, EXPECTED, "constant factor 2 "),
        (EXPECTED / 2, EXPECTED, "constant factor 1/2"),
        (EXPECTED * 12, EXPECTED, "constant factor N*q"),
        (np.where(EXPECTED > 0, np.inf, EXPECTED), EXPECTED, "NaN or inf"),
        (None, EXPECTED, "returned None"),
        (EXPECTED[:2], EXPECTED, "your shape (2, 3), expected (4, 3)"),
    ],
    ids=[
        "transposed-shape", "transposed-square", "sign", "factor-N", "factor-1/N", "factor-q",
        "factor-2", "factor-1/2", "factor-Nq", "overflow", "none", "shape",
    ],
)  # fmt: skip
def test_diagnosis_names_the_cause(actual, expected, cause):
    assert cause in _failure(actual, expected)


def test_only_for_positive_inputs_is_recognised():
    expected = np.maximum(H, 0)
    context = Context("c", inputs={"H": H})

    assert "correct only where H > 0" in _failure(np.abs(H), expected, context)


def test_only_for_negative_inputs_is_recognised():
    expected = np.maximum(H, 0)
    context = Context("c", inputs={"H": H})

    assert "correct only where H < 0" in _failure(np.zeros_like(H), expected, context)


@pytest.mark.parametrize(
    "new,cause",
    [
        (lambda W, step: W + step, "wrong sign"),
        (lambda W, step: W - step / 0.1, "ignores the learning rate"),
        (lambda W, step: W, "did not change"),
        (lambda W, step: W - 2 * step, "constant factor 2"),
    ],
    ids=["ascends", "ignores-lr", "no-step", "double-step"],
)
def test_step_diagnoses(new, cause):
    W, step = RNG.normal(size=(3, 2)), 0.1 * RNG.normal(size=(3, 2))
    context = Context("c", baseline=W, lr=0.1)

    assert cause in _failure(new(W, step), W - step, context)


def test_input_modified_in_place_is_named():
    context = Context("c")
    before = RNG.normal(size=(2, 2))
    context.note_if_modified("forward(O, Y)", before * 0, before)

    assert "forward(O, Y) modified its input array in place" in _failure(
        EXPECTED + 1, EXPECTED, context
    )


def test_unmodified_input_adds_no_note():
    context = Context("c")
    before = RNG.normal(size=(2, 2))

    context.note_if_modified("forward(A)", before.copy(), before)

    assert context.notes == []


def test_failure_never_shows_the_expected_values():
    text = _failure(EXPECTED + 1, EXPECTED)

    assert not any(f"{value:.3g}" in text for value in EXPECTED.ravel() if abs(value) > 0.01)


@pytest.mark.parametrize(
    "actual,expected",
    [
        (EXPECTED.copy(), EXPECTED),
        (EXPECTED.astype(np.float32), EXPECTED),
        (EXPECTED[:, :1].reshape(1, 4), EXPECTED[:, :1].reshape(4)),
        (np.float64(2.5), np.array(2.5)),
    ],
    ids=["equal", "float32", "bias-layout", "scalar"],
)
def test_correct_values_raise_nothing(actual, expected):
    check("x", actual, expected, Context("c"), ITEM, vector=expected.ndim == 1)


@pytest.mark.parametrize(
    "values", [EXPECTED + 0.3, EXPECTED * RNG.uniform(0.5, 1.5, EXPECTED.shape)]
)
def test_unrecognisable_error_claims_no_cause(values):
    assert "likely cause" not in _failure(values, EXPECTED)
