"""Torch float64 expectations for every fixture: the trusted reference the grader compares to.

Each function takes NumPy arrays, runs the same computation in torch with autograd (and
`torch.optim.SGD` for updates) and returns NumPy float64 arrays in a dict. Only
`grader.fixtures` imports this module, when fixtures are regenerated or verified; grading
reads the stored results and never needs torch.

NB: weights follow the homework's layout, W is (in, out) and O = X W + b, the transpose of
`torch.nn.Linear.weight`; so the layers here are written out rather than built from
`torch.nn.Linear`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu")
"""The activation kinds `activation` accepts, in the handout's order."""

_ACTIVATION_MODULES = {
    "identity": torch.nn.Identity,
    "sigmoid": torch.nn.Sigmoid,
    "tanh": torch.nn.Tanh,
    "relu": torch.nn.ReLU,
}


def torch_version() -> str:
    """The installed torch version, as recorded in the fixtures' manifest."""
    return str(torch.__version__)


def linear(X: np.ndarray, W: np.ndarray, b: np.ndarray, dLdZ: np.ndarray) -> dict:
    """Forward and backward of one Linear layer, O = X W + 1 b^T.

    X is (N, in), W (in, out), b (out,), dLdZ (N, out), the gradient of the loss with respect
    to O. Returns O (N, out), dLdA (N, in), dLdW (in, out) and dLdb (out,).
    """
    X_t, W_t, b_t = _leaf(X), _leaf(W), _leaf(b)

    O = X_t @ W_t + b_t
    O.backward(_tensor(dLdZ))

    return {
        "O": _array(O),
        "dLdA": _array(X_t.grad),
        "dLdW": _array(W_t.grad),
        "dLdb": _array(b_t.grad),
    }


def mse(O: np.ndarray, Y: np.ndarray) -> dict:
    """`torch.nn.MSELoss` (mean over all N*q entries) and its gradient.

    O and Y are (N, q). Returns L as a 0-d array and dLdO (N, q).
    """
    O_t = _leaf(O)

    L = torch.nn.MSELoss()(O_t, _tensor(Y))
    L.backward()

    return {"L": _array(L), "dLdO": _array(O_t.grad)}


def cross_entropy(O: np.ndarray, Y: np.ndarray) -> dict:
    """`torch.nn.CrossEntropyLoss` with probability targets (mean over N) and its gradient.

    O holds the logits, (N, C); each row of Y (N, C) is a probability vector (one-hot in the
    handout). Returns L as a 0-d array and dLdO (N, C).
    """
    O_t = _leaf(O)

    L = torch.nn.CrossEntropyLoss()(O_t, _tensor(Y))
    L.backward()

    return {"L": _array(L), "dLdO": _array(O_t.grad)}


def activation(kind: str, H: np.ndarray) -> dict:
    """An activation's output A and its element-wise derivative dA/dH, both shaped like H.

    kind is one of ACTIVATIONS. dAdH comes from autograd, A.backward(ones); the ReLU
    derivative is 0 at exactly 0, as in torch. Raises ValueError for an unknown kind.
    """
    if kind not in _ACTIVATION_MODULES:
        raise ValueError(f"unknown activation {kind!r}; expected one of {', '.join(ACTIVATIONS)}")
    H_t = _leaf(H)

    A = _ACTIVATION_MODULES[kind]()(H_t)
    A.backward(torch.ones_like(A))

    return {"A": _array(A), "dAdH": _array(H_t.grad)}


def sgd_step(layers: Sequence[dict], lr: float) -> list[dict]:
    """One `torch.optim.SGD(lr=lr).step()` over the W and b of every layer.

    Each layer is a dict with W (in, out), b (out,), dLdW (in, out) and dLdb (out,). Returns,
    per layer and in the same order, a dict with W_new and b_new.
    """
    parameters = []
    for layer in layers:
        for name in ("W", "b"):
            parameter = torch.nn.Parameter(_tensor(layer[name]))
            parameter.grad = _tensor(layer[f"dLd{name}"])
            parameters.append(parameter)

    torch.optim.SGD(parameters, lr=lr).step()

    return [
        {"W_new": _array(W), "b_new": _array(b)}
        for W, b in zip(parameters[0::2], parameters[1::2], strict=True)
    ]


def mlp(
    sizes: Sequence[int],
    weights: Sequence[tuple[np.ndarray, np.ndarray]],
    X: np.ndarray,
    dLdA: np.ndarray,
    lr: float,
) -> dict:
    """Forward, backward and one SGD step of an MLP0, MLP1 or MLP4.

    sizes is [num_inputs, num_outputs, num_hiddens] (num_hiddens unused by MLP0); weights
    lists (W, b) per Linear layer, W (in, out) and b (out,): one layer for MLP0, two for
    MLP1, five for MLP4. ReLU follows every hidden layer, Identity the output layer. X is
    (N, num_inputs), dLdA (N, num_outputs) the upstream gradient of the output.

    Returns the output "A" (N, num_outputs), "dLdX" (N, num_inputs) and, per layer i,
    "<i>/Z" and "<i>/A" (pre- and post-activation), "<i>/dLdZ", "<i>/dLdW", "<i>/dLdb" and
    "<i>/W_new", "<i>/b_new" after `torch.optim.SGD(lr=lr).step()`. Raises ValueError when
    the weights' shapes do not chain from num_inputs through num_hiddens to num_outputs.
    """
    _validate_mlp_shapes(sizes, weights)
    X_t = _leaf(X)
    parameters = [(_parameter(W), _parameter(b)) for W, b in weights]
    num_layers = len(parameters)

    A = X_t
    layer_outputs = []
    for i, (W, b) in enumerate(parameters):
        Z = A @ W + b
        Z.retain_grad()
        A = torch.relu(Z) if i < num_layers - 1 else Z
        layer_outputs.append((Z, A))

    A.backward(_tensor(dLdA))

    torch.optim.SGD([p for layer in parameters for p in layer], lr=lr).step()

    result = {"A": _array(A), "dLdX": _array(X_t.grad)}
    for i, ((W, b), (Z, A_i)) in enumerate(zip(parameters, layer_outputs, strict=True)):
        result[f"{i}/Z"] = _array(Z)
        result[f"{i}/A"] = _array(A_i)
        result[f"{i}/dLdZ"] = _array(Z.grad)
        result[f"{i}/dLdW"] = _array(W.grad)
        result[f"{i}/dLdb"] = _array(b.grad)
        result[f"{i}/W_new"] = _array(W)
        result[f"{i}/b_new"] = _array(b)
    return result


def train(
    weights: Sequence[tuple[np.ndarray, np.ndarray]],
    X: np.ndarray,
    Y: np.ndarray,
    loss: str,
    lr: float,
    steps: int,
) -> dict:
    """Full-batch training of an MLP (ReLU hidden layers, Identity output) with SGD.

    loss is "mse" or "cross_entropy" (probability targets Y). Returns "losses" (steps + 1,):
    the loss before each of the `steps` updates and after the last one, and "A" (N, q),
    the output after training.
    """
    parameters = [(_parameter(W), _parameter(b)) for W, b in weights]
    optimizer = torch.optim.SGD([p for layer in parameters for p in layer], lr=lr)
    criterion = torch.nn.MSELoss() if loss == "mse" else torch.nn.CrossEntropyLoss()
    X_t, Y_t = _tensor(X), _tensor(Y)

    def forward():
        A = X_t
        for i, (W, b) in enumerate(parameters):
            Z = A @ W + b
            A = torch.relu(Z) if i < len(parameters) - 1 else Z
        return A

    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        L = criterion(forward(), Y_t)
        losses.append(L.item())
        L.backward()
        optimizer.step()
    A = forward()
    losses.append(criterion(A, Y_t).item())
    return {"losses": np.array(losses), "A": _array(A)}


def _validate_mlp_shapes(
    sizes: Sequence[int], weights: Sequence[tuple[np.ndarray, np.ndarray]]
) -> None:
    """Raise ValueError unless the layers chain num_inputs -> num_hiddens ... -> num_outputs."""
    num_inputs, num_outputs, num_hiddens = (int(size) for size in sizes)
    widths = [num_inputs] + [num_hiddens] * (len(weights) - 1) + [num_outputs]
    for i, (W, b) in enumerate(weights):
        expected = (widths[i], widths[i + 1])
        if np.shape(W) != expected or np.shape(b) != expected[1:]:
            raise ValueError(
                f"layer {i}: W {np.shape(W)} and b {np.shape(b)} do not fit sizes "
                f"{list(sizes)}; expected W {expected} and b {expected[1:]}"
            )


def _tensor(array: np.ndarray) -> torch.Tensor:
    """A float64 torch copy of a NumPy array (never sharing its memory)."""
    return torch.tensor(np.asarray(array, dtype=np.float64))


def _leaf(array: np.ndarray) -> torch.Tensor:
    """A float64 tensor whose gradient autograd accumulates in .grad."""
    return _tensor(array).requires_grad_(True)


def _parameter(array: np.ndarray) -> torch.nn.Parameter:
    """A float64 parameter for `torch.optim.SGD`."""
    return torch.nn.Parameter(_tensor(array))


def _array(tensor: torch.Tensor) -> np.ndarray:
    """A float64 NumPy copy of a tensor, detached from autograd."""
    return tensor.detach().numpy().astype(np.float64, copy=True)
