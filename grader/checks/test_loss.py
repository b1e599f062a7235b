"""Items 2a-2d: MSELoss and CrossEntropyLoss, forward(O, Y) then backward()."""

import pytest
from conftest import cases_with

from grader.compare import check

SUBMISSION_MODULE = "mytorch.nn.loss"
FIXTURE = "loss"

LOSSES = {
    "mse": ("MSELoss", ("mytorch.nn.MSELoss", "mytorch.nn.loss.MSELoss")),
    "ce": ("CrossEntropyLoss", ("mytorch.nn.CrossEntropyLoss", "mytorch.nn.loss.CrossEntropyLoss")),
}


@pytest.fixture
def run(session, data, case, ctx):
    """Build the case's loss, call forward(O, Y); returns (loss, L, class name)."""
    name, targets = LOSSES[case.split("_")[0]]
    loss = session.new(*targets)
    L, (O_after, Y_after) = loss.call("forward", data["O"], data["Y"], echo=True)
    ctx.note_if_modified(f"{name}.forward(O, Y)", O_after, data["O"])
    ctx.note_if_modified(f"{name}.forward(O, Y)", Y_after, data["Y"])
    ctx.sizes = dict(zip(("N", "q"), data["O"].shape, strict=True))
    return loss, L, name


def _forward(run, data, ctx, item):
    _, L, name = run
    check(f"L = {name}.forward(O, Y)", L, data["L"], ctx, item)


def _backward(run, data, ctx, item):
    loss, _, name = run
    check(f"dLdO = {name}.backward()", loss.call("backward"), data["dLdO"], ctx, item)


@pytest.mark.item("2a")
@cases_with("mse")
def test_mse_forward(run, data, ctx, item):
    _forward(run, data, ctx, item)


@pytest.mark.item("2b")
@cases_with("mse")
def test_mse_backward(run, data, ctx, item):
    _backward(run, data, ctx, item)


@pytest.mark.item("2c")
@cases_with("ce")
def test_cross_entropy_forward(run, data, ctx, item):
    _forward(run, data, ctx, item)


@pytest.mark.item("2d")
@cases_with("ce")
def test_cross_entropy_backward(run, data, ctx, item):
    _backward(run, data, ctx, item)
