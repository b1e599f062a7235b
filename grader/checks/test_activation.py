"""Items 4a-4c: Sigmoid, Tanh and ReLU, forward(H) then backward() = dA/dH."""

import numpy as np
import pytest

from grader.compare import check

SUBMISSION_MODULE = "mytorch.nn.activation"
FIXTURE = "activation"
PLOTTED_CASE = "curve"


def _check_activation(session, data, ctx, item, record, class_name, quantity):
    kind = class_name.lower()
    activation = session.new(f"mytorch.nn.{class_name}", f"mytorch.nn.activation.{class_name}")
    ctx.inputs = {"H": data["H"]}
    ctx.known_mistakes = _known_mistakes(kind, quantity, data[f"{kind}/A"], data["H"])

    A, (H_after,) = activation.call("forward", data["H"], echo=True)

    ctx.note_if_modified(f"{class_name}.forward(H)", H_after, data["H"])
    value = A if quantity == "A" else activation.call("backward")
    if ctx.case == PLOTTED_CASE:
        _record_curve(record, quantity, data, value, kind)
    name = f"A = {class_name}.forward(H)" if quantity == "A" else f"dA/dH = {class_name}.backward()"
    check(name, value, data[f"{kind}/{quantity}"], ctx, item)


def _known_mistakes(kind: str, quantity: str, A: np.ndarray, H: np.ndarray) -> dict:
    """What familiar slips give, the derivatives written with the activation's output A."""
    if kind == "sigmoid" and quantity == "A":
        return {"your A is sigmoid(-H): check the sign in exp": 1 / (1 + np.exp(H))}
    if kind == "sigmoid":
        return {
            "your dA/dH is 1 - A^2, tanh's derivative; sigmoid's is A (1 - A)": 1 - A**2,
            "your dA/dH is 1 - A; the derivative of sigmoid is A (1 - A)": 1 - A,
        }
    if kind == "tanh" and quantity == "dAdH":
        return {
            "your dA/dH is 1 - A; the derivative of tanh is 1 - A^2": 1 - A,
            "your dA/dH is A (1 - A), sigmoid's derivative; tanh's is 1 - A^2": A * (1 - A),
        }
    return {}


def _record_curve(record, quantity, data, value, kind):
    """Keep the student's and torch's values on the dense case for the HTML report."""
    record("curve/H", data["H"].reshape(-1).tolist())
    record(f"curve/torch_{quantity}", data[f"{kind}/{quantity}"].reshape(-1).tolist())
    if isinstance(value, np.ndarray) and value.size == data["H"].size:
        finite = np.where(np.isfinite(value), value, np.nan).astype(np.float64)
        record(f"curve/{quantity}", [None if np.isnan(v) else float(v) for v in finite.reshape(-1)])


@pytest.mark.parametrize("quantity", ["A", "dAdH"])
@pytest.mark.item("4a")
def test_sigmoid(session, data, ctx, item, record, quantity):
    _check_activation(session, data, ctx, item, record, "Sigmoid", quantity)


@pytest.mark.parametrize("quantity", ["A", "dAdH"])
@pytest.mark.item("4b")
def test_tanh(session, data, ctx, item, record, quantity):
    _check_activation(session, data, ctx, item, record, "Tanh", quantity)


@pytest.mark.parametrize("quantity", ["A", "dAdH"])
@pytest.mark.item("4c")
def test_relu(session, data, ctx, item, record, quantity):
    _check_activation(session, data, ctx, item, record, "ReLU", quantity)
