"""Item 6 (0 points, informational): train the student's MLP1 with its own loss and SGD.

Full-batch training from the case's weights, next to torch doing the same; the feedback
says whether the two loss curves agree and gives the final accuracy. Every component here
is the student's own, so this item shows how the parts work together, for no points.
"""

import numpy as np
import pytest

from grader.compare import CheckFailed
from grader.session import Sequence

SUBMISSION_MODULE = "models.mlp"
FIXTURE = "training"
LOSSES = {
    "regression": ("mytorch.nn.MSELoss", "mytorch.nn.loss.MSELoss"),
    "classification": ("mytorch.nn.CrossEntropyLoss", "mytorch.nn.loss.CrossEntropyLoss"),
}
SGD = ("mytorch.optim.SGD", "mytorch.optim.sgd.SGD")


def _scalar(value, what: str) -> float:
    if not isinstance(value, np.ndarray) or value.size != 1:
        raise CheckFailed(f"{what} returned {getattr(value, 'shape', value)!r}, not one number")
    return float(value.reshape(-1)[0])


@pytest.mark.item("6")
def test_training_run(session, representation, data, case, item, record):
    num_inputs, num_outputs, num_hiddens = (int(size) for size in data["sizes"])
    model = session.new(
        "models.MLP1", "models.mlp.MLP1", args=(num_inputs, num_outputs, num_hiddens)
    )
    for i in range(2):
        model.set(f"layers.{i}.W", representation.W(data[f"{i}/W"]))
        model.set(f"layers.{i}.b", representation.b(data[f"{i}/b"]))
    loss = session.new(*LOSSES[case])
    optimizer = session.new(*SGD, args=(model, float(data["lr"])))

    calls = Sequence()
    for _ in range(int(data["steps"])):
        output = calls.call(model, "forward", data["X"])
        calls.call(loss, "forward", output, data["Y"], keep=True)
        calls.call(model, "backward", calls.call(loss, "backward"))
        calls.call(optimizer, "step")
    output = calls.call(model, "forward", data["X"], keep=True)
    calls.call(loss, "forward", output, data["Y"], keep=True)
    *kept, A, final_loss = calls.run(session)
    losses = [_scalar(value, "loss.forward") for value in [*kept, final_loss]]

    expected = data["losses"]
    record(f"{case}/losses", losses)
    record(f"{case}/torch_losses", expected.tolist())
    summary = f"{case}: final loss {losses[-1]:.4g} (torch {expected[-1]:.4g})"
    if case == "classification" and isinstance(A, np.ndarray) and A.shape == data["Y"].shape:
        accuracy = float((A.argmax(axis=1) == data["Y"].argmax(axis=1)).mean())
        torch_accuracy = float((data["A"].argmax(axis=1) == data["Y"].argmax(axis=1)).mean())
        summary += f", accuracy {accuracy:.0%} (torch {torch_accuracy:.0%})"
    record(f"summary/{case}", summary)

    agree = np.isclose(losses, expected, rtol=1e-6, atol=1e-9)
    if not agree.all():
        step = int(np.argmin(agree))
        raise CheckFailed(
            f"{summary}; the loss curve departs from torch's at step {step} "
            f"(yours {losses[step]:.6g}, torch {expected[step]:.6g})"
        )
