"""Items 1a-1c: the student's Linear layer, built by its own __init__."""

import numpy as np
import pytest
from conftest import LINEAR

from grader.compare import CheckFailed, check

SUBMISSION_MODULE = "mytorch.nn.linear"
FIXTURE = "linear"

INIT_SHAPES = [(3, 4), (10, 5), (1, 7)]
STATS_SHAPE = (200, 300)
"""60,000 weights: the sample variance is within 1.5e-3 of 0.01 with overwhelming odds."""


@pytest.mark.item("1a")
@pytest.mark.parametrize("num_inputs,num_outputs", INIT_SHAPES, ids=lambda size: str(size))
def test_init_shapes_and_zero_bias(session, num_inputs, num_outputs):
    layer = session.new(*LINEAR, args=(num_inputs, num_outputs))

    W, b = layer.get("W"), layer.get("b")

    where = f"Linear({num_inputs}, {num_outputs})"
    if not isinstance(W, np.ndarray) or W.shape != (num_inputs, num_outputs):
        shape = getattr(W, "shape", type(W).__name__)
        raise CheckFailed(f"{where}: W has shape {shape}, expected {(num_inputs, num_outputs)}")
    if not isinstance(b, np.ndarray) or b.size != num_outputs:
        shape = getattr(b, "shape", type(b).__name__)
        raise CheckFailed(f"{where}: b has shape {shape}, expected {num_outputs} values")
    if np.any(b != 0):
        raise CheckFailed(f"{where}: b must start at zero")


@pytest.mark.item("1a")
def test_init_weights_have_mean_zero_and_variance_0_01(session):
    layer = session.new(*LINEAR, args=STATS_SHAPE)

    W = layer.get("W")

    if not isinstance(W, np.ndarray) or W.size != np.prod(STATS_SHAPE):
        raise CheckFailed(f"Linear{STATS_SHAPE}: W does not hold {np.prod(STATS_SHAPE)} values")
    mean, variance = float(W.mean()), float(W.var())
    measured = f"Linear{STATS_SHAPE}: measured mean {mean:.4g} and variance {variance:.4g}"
    if abs(variance - 1e-4) < 2e-5:
        raise CheckFailed(
            f"{measured}; expected variance 0.01: you used 0.01 as the standard deviation "
            "(the handout asks for variance 0.01, i.e. std 0.1)"
        )
    if abs(mean) > 3e-3 or abs(variance - 0.01) > 1.5e-3:
        raise CheckFailed(f"{measured}; expected mean 0 and variance 0.01 (std 0.1)")


@pytest.fixture
def layer(session, representation, data, ctx):
    """The student's Linear with the case's W and b (b in the student's own layout)."""
    made = session.new(*LINEAR, args=data["W"].shape)
    made.set("W", representation.W(data["W"]))
    made.set("b", representation.b(data["b"]))
    N, num_inputs = data["X"].shape
    ctx.sizes = {"N": N, "C_in": num_inputs, "C_out": data["W"].shape[1]}
    return made


@pytest.mark.item("1b")
def test_forward(layer, data, ctx, item):
    O, (A_after,) = layer.call("forward", data["X"], echo=True)

    ctx.note_if_modified("forward(A)", A_after, data["X"])
    check("O = forward(A)", O, data["O"], ctx, item)


@pytest.mark.item("1c")
@pytest.mark.parametrize("quantity", ["dLdA", "dLdW", "dLdb"])
def test_backward(layer, representation, data, ctx, item, quantity):
    _, (A_after,) = layer.call("forward", data["X"], echo=True)
    dLdA, (dLdO_after,) = layer.call("backward", data["dLdZ"], echo=True)

    ctx.note_if_modified("forward(A)", A_after, data["X"])
    ctx.note_if_modified("backward(dLdO)", dLdO_after, data["dLdZ"])
    if quantity == "dLdA":
        check("dLdA returned by backward(dLdO)", dLdA, data["dLdA"], ctx, item)
    elif quantity == "dLdW":
        expected = representation.W(data["dLdW"])
        check("dLdW stored by backward", layer.get("dLdW"), expected, ctx, item)
    else:
        check("dLdb stored by backward", layer.get("dLdb"), data["dLdb"], ctx, item, vector=True)
