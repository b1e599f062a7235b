"""Item 3: the student's SGD, stepping stand-in layers (so a Linear bug cannot cost it)."""

import numpy as np
import pytest

from grader.compare import check

SUBMISSION_MODULE = "mytorch.optim.sgd"
FIXTURE = "sgd"
SGD = ("mytorch.optim.SGD", "mytorch.optim.sgd.SGD")


def _layers(data) -> list[int]:
    return sorted({int(key.split("/")[0]) for key in data if key[0].isdigit()})


def _build(session, representation, data, case):
    """The stand-in model: a single layer for "single", else a holder with `layers`."""
    layers = [
        session.stand_in(
            "holder",
            W=data[f"{i}/W"].copy(),
            b=representation.b(data[f"{i}/b"]),
            dLdW=data[f"{i}/dLdW"].copy(),
            dLdb=representation.dLdb(data[f"{i}/dLdb"]),
        )
        for i in _layers(data)
    ]
    if case == "single":
        return layers[0], layers
    return session.stand_in("holder", layers=layers), layers


@pytest.mark.item("3")
@pytest.mark.parametrize("quantity", ["W", "b"])
def test_step(session, representation, data, case, ctx, item, quantity):
    model, layers = _build(session, representation, data, case)
    lr = float(data["lr"])
    optimizer = session.new(*SGD, args=(model, lr))

    optimizer.call("step")

    ctx.lr = lr
    for i, layer in zip(_layers(data), layers, strict=True):
        actual = layer.get(quantity)
        owner = "" if case == "single" else f"layers[{i}]."
        name = f"{owner}{quantity} after step()"
        ctx.baseline = data[f"{i}/{quantity}"]
        check(name, actual, data[f"{i}/{quantity}_new"], ctx, item, vector=quantity == "b")


@pytest.mark.item("3")
def test_zero_grad_exists(session, representation):
    data = {"0/W": np.zeros((2, 2)), "0/b": np.zeros(2), "0/dLdW": np.ones((2, 2))}
    data["0/dLdb"] = np.ones(2)
    model, _ = _build(session, representation, data, "single")
    optimizer = session.new(*SGD, args=(model, 0.1))

    optimizer.call("zero_grad")
