"""The in-process grader a TA would write in an afternoon: the point of comparison for `grade`.

    python benchmarks/baseline.py SUBMISSION

Puts the submission's folder on sys.path, imports its mytorch and models next to torch in
this one process, and checks every rubric item on a few seeded random cases against torch
(float64). No sandbox, no time limits, no fair-grading stand-ins: a hanging or hostile
submission hangs or breaks this script, and a Linear bug also costs the MLP items. That is
the point: this is what `grade` is measured against in benchmarks/bench.py.
"""

import sys

import numpy as np
import torch

SEEDS = (0, 1, 2, 3)
RTOL, ATOL = 1e-6, 1e-8
POINTS = {
    "1a": 1, "1b": 2, "1c": 4, "2a": 2, "2b": 2, "2c": 2, "2d": 2,
    "3": 2, "4a": 2, "4b": 2, "4c": 2, "5a": 4, "5b": 4, "5c": 4,
}  # fmt: skip


def close(mine, reference) -> bool:
    mine = np.asarray(mine, dtype=np.float64)
    reference = reference.detach().numpy() if torch.is_tensor(reference) else reference
    return mine.shape == np.shape(reference) and np.allclose(mine, reference, RTOL, ATOL)


def tensor(array, grad=False):
    return torch.tensor(array, dtype=torch.float64, requires_grad=grad)


# -- 1: Linear -----------------------------------------------------------------------------


def check_linear_init(rng):
    from mytorch.nn import Linear

    C_in, C_out = rng.integers(1, 10, size=2)
    layer = Linear(C_in, C_out)
    shapes_ok = layer.W.shape == (C_in, C_out) and np.all(np.asarray(layer.b) == 0)
    W = Linear(200, 300).W
    return shapes_ok and abs(W.mean()) < 3e-3 and abs(W.var() - 0.01) < 1.5e-3


def linear_case(rng):
    from mytorch.nn import Linear

    N, C_in, C_out = rng.integers(1, 10, size=3)
    A, W, b = rng.normal(size=(N, C_in)), rng.normal(size=(C_in, C_out)), rng.normal(size=C_out)
    layer = Linear(C_in, C_out)
    layer.W, layer.b = W.copy(), b.reshape(np.shape(layer.b)).copy()
    A_t, W_t, b_t = tensor(A, True), tensor(W, True), tensor(b, True)
    O_t = A_t @ W_t + b_t
    return layer, A, O_t, (A_t, W_t, b_t)


def check_linear_forward(rng):
    layer, A, O_t, _ = linear_case(rng)
    return close(layer.forward(A), O_t)


def check_linear_backward(rng):
    layer, A, O_t, (A_t, W_t, b_t) = linear_case(rng)
    dLdO = rng.normal(size=tuple(O_t.shape))
    O_t.backward(tensor(dLdO))
    layer.forward(A)
    dLdA = layer.backward(dLdO)
    dLdb = np.asarray(layer.dLdb).reshape(-1)
    return close(dLdA, A_t.grad) and close(layer.dLdW, W_t.grad) and close(dLdb, b_t.grad)


# -- 2: losses -----------------------------------------------------------------------------


def loss_case(rng, kind):
    from mytorch.nn import CrossEntropyLoss, MSELoss

    N, C = rng.integers(1, 10, size=2)
    O = rng.normal(size=(N, C)) * (1e3 if rng.random() < 0.25 else 1)
    if kind == "mse":
        Y, mine, theirs = rng.normal(size=(N, C)), MSELoss(), torch.nn.MSELoss()
    else:
        Y = np.eye(C)[rng.integers(0, C, size=N)]
        mine, theirs = CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    O_t = tensor(O, True)
    L_t = theirs(O_t, tensor(Y))
    L_t.backward()
    return mine, O, Y, L_t, O_t.grad


def check_loss_forward(rng, kind):
    mine, O, Y, L_t, _ = loss_case(rng, kind)
    return close(mine.forward(O, Y), L_t)


def check_loss_backward(rng, kind):
    mine, O, Y, _, dLdO_t = loss_case(rng, kind)
    mine.forward(O, Y)
    return close(mine.backward(), dLdO_t)


# -- 3: SGD --------------------------------------------------------------------------------


def check_sgd(rng):
    from mytorch.nn import Linear
    from mytorch.optim import SGD

    C_in, C_out = rng.integers(1, 10, size=2)
    lr = float(rng.uniform(0.01, 1))
    layer = Linear(C_in, C_out)
    W, b = rng.normal(size=(C_in, C_out)), rng.normal(size=C_out)
    layer.W, layer.b = W.copy(), b.reshape(np.shape(layer.b)).copy()
    layer.dLdW, layer.dLdb = rng.normal(size=(C_in, C_out)), rng.normal(size=C_out)
    W_t, b_t = tensor(W, True), tensor(b, True)
    W_t.grad, b_t.grad = tensor(layer.dLdW), tensor(layer.dLdb)
    torch.optim.SGD([W_t, b_t], lr=lr).step()
    SGD(layer, lr=lr).step()
    return close(layer.W, W_t) and close(np.asarray(layer.b).reshape(-1), b_t)


# -- 4: activations ------------------------------------------------------------------------


def check_activation(rng, name):
    import mytorch.nn

    N, C = rng.integers(1, 10, size=2)
    H = rng.uniform(-50, 50, size=(N, C))
    H_t = tensor(H, True)
    A_t = {"Sigmoid": torch.sigmoid, "Tanh": torch.tanh, "ReLU": torch.relu}[name](H_t)
    A_t.sum().backward()
    activation = getattr(mytorch.nn, name)()
    return close(activation.forward(H), A_t) and close(activation.backward(), H_t.grad)


# -- 5: MLPs -------------------------------------------------------------------------------


def check_mlp(rng, name):
    import models

    N, C_in, C_out, hidden = rng.integers(1, 8, size=4)
    args = (C_in, C_out) if name == "MLP0" else (C_in, C_out, hidden)
    model = getattr(models, name)(*args)
    widths = [C_in] + [hidden] * {"MLP0": 0, "MLP1": 1, "MLP4": 4}[name] + [C_out]
    sizes = zip(widths[:-1], widths[1:], strict=True)
    torch_layers = []
    for layer, (C_a, C_b) in zip(model.layers, sizes, strict=True):
        W, b = rng.normal(size=(C_a, C_b)), rng.normal(size=C_b)
        layer.W, layer.b = W.copy(), b.reshape(np.shape(layer.b)).copy()
        torch_layers.append((tensor(W, True), tensor(b, True)))

    X, dLdA = rng.normal(size=(N, C_in)), rng.normal(size=(N, C_out))
    A_t = tensor(X)
    for index, (W_t, b_t) in enumerate(torch_layers):
        A_t = A_t @ W_t + b_t
        A_t = torch.relu(A_t) if index < len(torch_layers) - 1 else A_t
    A_t.backward(tensor(dLdA))
    torch.optim.SGD([p for pair in torch_layers for p in pair], lr=0.1).step()

    from mytorch.optim import SGD

    ok = close(model.forward(X), A_t)
    model.backward(dLdA)
    SGD(model, lr=0.1).step()
    return ok and all(
        close(layer.W, W_t) and close(np.asarray(layer.b).reshape(-1), b_t)
        for layer, (W_t, b_t) in zip(model.layers, torch_layers, strict=True)
    )


CHECKS = {
    "1a": check_linear_init,
    "1b": check_linear_forward,
    "1c": check_linear_backward,
    "2a": lambda rng: check_loss_forward(rng, "mse"),
    "2b": lambda rng: check_loss_backward(rng, "mse"),
    "2c": lambda rng: check_loss_forward(rng, "ce"),
    "2d": lambda rng: check_loss_backward(rng, "ce"),
    "3": check_sgd,
    "4a": lambda rng: check_activation(rng, "Sigmoid"),
    "4b": lambda rng: check_activation(rng, "Tanh"),
    "4c": lambda rng: check_activation(rng, "ReLU"),
    "5a": lambda rng: check_mlp(rng, "MLP0"),
    "5b": lambda rng: check_mlp(rng, "MLP1"),
    "5c": lambda rng: check_mlp(rng, "MLP4"),
}


def main(submission: str) -> float:
    sys.path.insert(0, submission)
    total = 0.0
    for item, check in CHECKS.items():
        passed = 0
        for seed in SEEDS:
            try:
                passed += bool(check(np.random.default_rng(seed)))
            except Exception as error:  # noqa: BLE001 - a student's bug is a failed check
                print(f"{item} seed {seed}: {type(error).__name__}: {error}")
        score = POINTS[item] * passed / len(SEEDS)
        print(f"{item}: {score:g} / {POINTS[item]}")
        total += score
    print(f"total: {total:g} / {sum(POINTS.values())}")
    return total


if __name__ == "__main__":
    main(sys.argv[1])
