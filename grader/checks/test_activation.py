"""Items 4a-4c: Sigmoid, Tanh and ReLU, forward(H) then backward() = dA/dH."""

import pytest
from conftest import context

from grader.compare import check

SUBMISSION_MODULE = "mytorch.nn.activation"
FIXTURE = "activation"


def _check_activation(session, data, case, item, class_name, quantity):
    kind = class_name.lower()
    activation = session.new(f"mytorch.nn.{class_name}", f"mytorch.nn.activation.{class_name}")
    ctx = context(case)
    ctx.inputs = {"H": data["H"]}

    A = activation.call("forward", data["H"])
    if quantity == "A":
        check(f"A = {class_name}.forward(H)", A, data[f"{kind}/A"], ctx, item)
        return
    dAdH = activation.call("backward")
    check(f"dA/dH = {class_name}.backward()", dAdH, data[f"{kind}/dAdH"], ctx, item)


@pytest.mark.parametrize("quantity", ["A", "dAdH"])
@pytest.mark.item("4a")
def test_sigmoid(session, data, case, item, quantity):
    _check_activation(session, data, case, item, "Sigmoid", quantity)


@pytest.mark.parametrize("quantity", ["A", "dAdH"])
@pytest.mark.item("4b")
def test_tanh(session, data, case, item, quantity):
    _check_activation(session, data, case, item, "Tanh", quantity)


@pytest.mark.parametrize("quantity", ["A", "dAdH"])
@pytest.mark.item("4c")
def test_relu(session, data, case, item, quantity):
    _check_activation(session, data, case, item, "ReLU", quantity)
