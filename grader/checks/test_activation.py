"""Items 4a-4c: Sigmoid, Tanh and ReLU, forward(H) then backward() = dA/dH."""

import pytest

from grader.compare import check

SUBMISSION_MODULE = "mytorch.nn.activation"
FIXTURE = "activation"


def _check_activation(session, data, ctx, item, class_name, quantity):
    kind = class_name.lower()
    activation = session.new(f"mytorch.nn.{class_name}", f"mytorch.nn.activation.{class_name}")
    ctx.inputs = {"H": data["H"]}

    A, (H_after,) = activation.call("forward", data["H"], echo=True)

    ctx.note_if_modified(f"{class_name}.forward(H)", H_after, data["H"])
    if quantity == "A":
        check(f"A = {class_name}.forward(H)", A, data[f"{kind}/A"], ctx, item)
    else:
        dAdH = activation.call("backward")
        check(f"dA/dH = {class_name}.backward()", dAdH, data[f"{kind}/dAdH"], ctx, item)


@pytest.mark.parametrize("quantity", ["A", "dAdH"])
@pytest.mark.item("4a")
def test_sigmoid(session, data, ctx, item, quantity):
    _check_activation(session, data, ctx, item, "Sigmoid", quantity)


@pytest.mark.parametrize("quantity", ["A", "dAdH"])
@pytest.mark.item("4b")
def test_tanh(session, data, ctx, item, quantity):
    _check_activation(session, data, ctx, item, "Tanh", quantity)


@pytest.mark.parametrize("quantity", ["A", "dAdH"])
@pytest.mark.item("4c")
def test_relu(session, data, ctx, item, quantity):
    _check_activation(session, data, ctx, item, "ReLU", quantity)
