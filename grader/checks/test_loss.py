"""Items 2a-2d: MSELoss and CrossEntropyLoss, forward(O, Y) then backward()."""

import pytest
from conftest import cases_with, context

from grader.compare import check

SUBMISSION_MODULE = "mytorch.nn.loss"
FIXTURE = "loss"

LOSSES = {
    "mse": ("mytorch.nn.MSELoss", "mytorch.nn.loss.MSELoss"),
    "ce": ("mytorch.nn.CrossEntropyLoss", "mytorch.nn.loss.CrossEntropyLoss"),
}


def _run(session, case, data):
    loss = session.new(*LOSSES[case.split("_")[0]])
    L = loss.call("forward", data["O"], data["Y"])
    return loss, L


def _context(case, data):
    N, q = data["O"].shape
    return context(case, N=N, q=q)


@pytest.mark.item("2a")
@cases_with("mse")
def test_mse_forward(session, data, case, item):
    _, L = _run(session, case, data)
    check("L = MSELoss.forward(O, Y)", L, data["L"], _context(case, data), item)


@pytest.mark.item("2b")
@cases_with("mse")
def test_mse_backward(session, data, case, item):
    loss, _ = _run(session, case, data)
    dLdO = loss.call("backward")
    check("dLdO = MSELoss.backward()", dLdO, data["dLdO"], _context(case, data), item)


@pytest.mark.item("2c")
@cases_with("ce")
def test_cross_entropy_forward(session, data, case, item):
    _, L = _run(session, case, data)
    check("L = CrossEntropyLoss.forward(O, Y)", L, data["L"], _context(case, data), item)


@pytest.mark.item("2d")
@cases_with("ce")
def test_cross_entropy_backward(session, data, case, item):
    loss, _ = _run(session, case, data)
    dLdO = loss.call("backward")
    check("dLdO = CrossEntropyLoss.backward()", dLdO, data["dLdO"], _context(case, data), item)
