"""Generate the handout's six tester notebooks, `student_template/*.ipynb`, with nbformat.

Each notebook runs from the student's handout folder (mytorch/ and models/ beside it),
compares the student's code with torch in float64 on testerData.npz or on data it draws
itself, and prints one `PASS` or `FAIL` line per check, with what differs on a failure.
Every code cell carries one tag in its metadata:

    setup     imports, helpers and data; runs on the bare template
    student   calls the student's code; on the template, the first one raises
              NotImplementedError, which tells the student what to write next
    summary   the closing "N passed, N failed" line

The notebooks are written without outputs and with fixed cell ids, so regenerating gives
the same bytes: `python -m grader.notebooks` rewrites them, `--check` says whether the
committed ones are current.
"""

from __future__ import annotations

import argparse
import logging
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
TAGS = ("setup", "student", "summary")
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


@dataclass(frozen=True)
class Cell:
    """One cell: markdown text, or code with its tag (one of TAGS)."""

    source: str
    tag: str | None = None
    """None for markdown; the code cell's role otherwise."""


def markdown(*parts: str) -> Cell:
    """A markdown cell of `parts`, each dedented on its own, separated by blank lines."""
    return Cell("\n\n".join(textwrap.dedent(part).strip() for part in parts))


def setup(code: str) -> Cell:
    return Cell(textwrap.dedent(code).strip(), "setup")


def student(code: str) -> Cell:
    return Cell(textwrap.dedent(code).strip(), "student")


# ---- cells shared by several notebooks ---------------------------------------------------

_HOW_TO_RUN = """
    Run it from your handout folder, where `mytorch/`, `models/` and `testerData.npz` sit
    beside this notebook, with *Run All*. Every check prints `PASS` or `FAIL` and, on a
    failure, where your result differs from torch's and by how much. A `NotImplementedError`
    marks the next part you have to write. After editing your code, run the cells again:
    `autoreload` picks up the change (restart the kernel if it does not).
"""

_IMPORTS = """
    %load_ext autoreload
    %autoreload 2

    import os
    import sys

    import numpy as np
    import torch

    # Your mytorch/ and models/ are imported from the folder of this notebook.
    sys.path.insert(0, os.path.abspath(""))
    torch.set_default_dtype(torch.float64)
    np.set_printoptions(precision=4, suppress=True)
"""

_COMPARE = '''
    RTOL, ATOL = 1e-6, 1e-8
    tally = {"PASS": 0, "FAIL": 0}


    def report(passed, what, got, expected=None):
        """Print one PASS or FAIL line (with what was expected on a FAIL) and count it."""
        status = "PASS" if passed else "FAIL"
        tally[status] += 1
        line = f"{status}  {what}: {got}"
        if not passed and expected is not None:
            line += f"; expected {expected}"
        print(line)
        return passed


    def tensor(array, grad=False):
        """A float64 torch tensor holding a copy of `array`."""
        return torch.tensor(np.array(array, dtype=np.float64), requires_grad=grad)


    def compare(what, mine, expected, any_shape=False):
        """Compare your result with torch's and print PASS or FAIL with what differs.

        any_shape accepts any shape holding the right number of values (b, dLdb, a loss).
        """
        if isinstance(expected, torch.Tensor):
            expected = expected.detach().numpy()
        expected = np.asarray(expected, dtype=np.float64)
        if mine is None:
            return report(False, what, "your code returned None")
        try:
            mine = np.asarray(mine, dtype=np.float64)
        except (TypeError, ValueError) as error:
            return report(False, what, f"not an array of numbers ({error})")

        if any_shape and mine.size == expected.size:
            mine, expected = mine.reshape(-1), expected.reshape(-1)
        if mine.shape != expected.shape:
            transposed = mine.shape == expected.T.shape and np.allclose(mine.T, expected)
            hint = " (yours is the transpose of torch's)" if transposed else ""
            return report(False, what, f"shape {mine.shape}{hint}", f"{expected.shape}")
        if np.allclose(mine, expected, rtol=RTOL, atol=ATOL):
            largest = np.abs(mine - expected).max(initial=0.0)
            return report(True, what, f"matches torch (max abs diff {largest:.1e})")
        return report(False, what, difference(mine, expected))


    def difference(mine, expected):
        """Where two arrays of one shape differ most, and a likely cause."""
        error = np.abs(mine - expected)
        error[np.isnan(error)] = np.inf
        where = np.unravel_index(np.argmax(error), error.shape)
        text = (
            f"max abs diff {error[where]:.3g} at {[int(i) for i in where]} "
            f"(yours {mine[where]:.6g}, torch {expected[where]:.6g})"
        )
        cause = likely_cause(mine, expected)
        return f"{text}; {cause}" if cause else text


    def likely_cause(mine, expected):
        """A short guess at the bug when the numbers show one, else an empty string."""
        if not np.isfinite(mine).all():
            return "yours has NaN or inf (an exp that overflows?)"
        if mine.ndim == 2 and mine.shape == mine.T.shape and np.allclose(mine.T, expected):
            return "yours is the transpose of torch's"
        if np.allclose(-mine, expected):
            return "yours has the wrong sign"
        nonzero = np.abs(expected) > 1e-12
        if nonzero.any():
            ratio = mine[nonzero] / expected[nonzero]
            if ratio[0] != 0 and np.allclose(ratio, ratio[0]):
                return f"yours is {ratio[0]:.4g} times torch's (a missing or extra factor?)"
        return ""


    def set_params(layer, W, b):
        """Give a layer copies of W and b, with b in the shape your own __init__ chose."""
        layer.W = np.array(W, dtype=np.float64)
        b = np.array(b, dtype=np.float64)
        own_b = getattr(layer, "b", b)
        layer.b = b.reshape(np.shape(own_b)) if np.size(own_b) == b.size else b.reshape(-1)
'''

_TESTER_DATA = """
    data = np.load("testerData.npz")
    W, b, X, Y, dLdZ = (data[key] for key in ("W", "b", "X", "Y", "dLdZ"))
    for key in data.files:
        print(f"{key:5} {data[key].shape}")
"""

_TORCH_MLP = '''
    def torch_mlp(weights):
        """torch's MLP with these (W, b): Linear then ReLU per hidden layer, Linear at the end.

        NB: torch's weight is the transpose of our W.
        """
        modules = []
        for index, (W_layer, b_layer) in enumerate(weights):
            linear = torch.nn.Linear(*W_layer.shape)
            with torch.no_grad():
                linear.weight.copy_(tensor(W_layer.T))
                linear.bias.copy_(tensor(np.ravel(b_layer)))
            modules.append(linear)
            if index < len(weights) - 1:
                modules.append(torch.nn.ReLU())
        return torch.nn.Sequential(*modules)


    def random_weights(widths, rng):
        """(W, b) per layer for these widths, W ~ N(0, 0.5^2): ReLUs both on and off."""
        return [
            (rng.normal(0.0, 0.5, size=(n_in, n_out)), rng.normal(0.0, 0.5, size=n_out))
            for n_in, n_out in zip(widths[:-1], widths[1:])
        ]
'''

_SUMMARY = """
    print(f"{tally['PASS']} passed, {tally['FAIL']} failed")
"""


def _common_setup(imports: str) -> list[Cell]:
    """The imports (plus this notebook's own `imports` of the student's code) and helpers."""
    code = textwrap.dedent(_IMPORTS).strip() + "\n\n" + textwrap.dedent(imports).strip()
    return [setup(code), setup(_COMPARE)]


def _summary() -> list[Cell]:
    return [markdown("## Summary"), Cell(textwrap.dedent(_SUMMARY).strip(), "summary")]


# ---- the six notebooks -------------------------------------------------------------------


def _linear_tester() -> list[Cell]:
    return [
        markdown(
            """
            # LinearTester: problems 1a-1c

            Compares your `mytorch.nn.Linear` with `torch.nn.Linear` on the handout's data
            (`testerData.npz`: W (10, 5), b (5, 1), X (5, 10), dLdZ (5, 5)) and on a random
            non-square layer. NB: our W is (C_in, C_out), the transpose of torch's `weight`.
            """,
            _HOW_TO_RUN,
        ),
        *_common_setup("\nfrom mytorch.nn import Linear\n"),
        setup(_TESTER_DATA),
        markdown(
            """
            ## 1a Linear init

            W is (C_in, C_out) with entries drawn from N(0, 0.01), that is std 0.1; b is
            zeros, stored as (C_out,), (C_out, 1) or (1, C_out), as you prefer.
            """
        ),
        student(
            """
            linear = Linear(10, 5)
            report(np.shape(linear.W) == (10, 5), "1a W shape", np.shape(linear.W), (10, 5))
            report(
                np.shape(linear.b) in [(5,), (5, 1), (1, 5)],
                "1a b shape",
                np.shape(linear.b),
                "(5,), (5, 1) or (1, 5)",
            )
            report(not np.any(linear.b), "1a b is zeros", np.ravel(linear.b))

            np.random.seed(11785)
            large = Linear(200, 300)
            mean, std = float(np.mean(large.W)), float(np.std(large.W))
            report(
                abs(mean) < 0.005 and abs(std - 0.1) < 0.005,
                "1a W of a 200 x 300 layer ~ N(0, 0.01)",
                f"mean {mean:.4f}, std {std:.4f}",
                "mean 0 and std 0.1",
            )
            """
        ),
        markdown(
            """
            ## 1b Linear forward

            `forward(A)` returns O = A W + 1 b^T. Two cases: the handout's layer, and a
            random 4 -> 6 layer on 3 rows (non-square, so a transposed W cannot pass).
            """
        ),
        student(
            """
            rng = np.random.default_rng(1)
            cases = {
                "testerData": (W, b, X, dLdZ),
                "random 4 -> 6": (
                    rng.normal(size=(4, 6)),
                    rng.normal(size=(6, 1)),
                    rng.normal(size=(3, 4)),
                    rng.normal(size=(3, 6)),
                ),
            }

            runs = {}
            for case, (W_case, b_case, X_case, dLdZ_case) in cases.items():
                linear = Linear(*W_case.shape)
                set_params(linear, W_case, b_case)
                O = linear.forward(X_case)

                torch_linear = torch.nn.Linear(*W_case.shape)
                with torch.no_grad():
                    torch_linear.weight.copy_(tensor(W_case.T))
                    torch_linear.bias.copy_(tensor(b_case.ravel()))
                X_torch = tensor(X_case, grad=True)
                O_torch = torch_linear(X_torch)

                compare(f"1b O = linear.forward(X), {case}", O, O_torch)
                runs[case] = (linear, torch_linear, X_torch, O_torch, dLdZ_case)
            """
        ),
        markdown(
            """
            ## 1c Linear backward

            `backward(dLdO)` returns dLdA and stores dLdW (shaped like W) and dLdb. torch
            gets the same upstream gradient through `O.backward(dLdZ)`.
            """
        ),
        student(
            """
            for case, (linear, torch_linear, X_torch, O_torch, dLdZ_case) in runs.items():
                dLdA = linear.backward(dLdZ_case)
                O_torch.backward(tensor(dLdZ_case))

                compare(f"1c dLdA = linear.backward(dLdZ), {case}", dLdA, X_torch.grad)
                compare(f"1c linear.dLdW, {case}", linear.dLdW, torch_linear.weight.grad.T)
                compare(
                    f"1c linear.dLdb, {case}", linear.dLdb, torch_linear.bias.grad, any_shape=True
                )
            """
        ),
        *_summary(),
    ]


def _loss_tester() -> list[Cell]:
    return [
        markdown(
            """
            # LossTester: problems 2a-2d

            Compares your `MSELoss` and `CrossEntropyLoss` with torch's. MSE is tested on the
            handout layer's output O = X W + 1 b^T against Y; cross-entropy on logits and
            one-hot targets of its own (it no longer reuses the MSE block's X), including
            logits of size 1e3, where a plain `exp` overflows.
            """,
            _HOW_TO_RUN,
        ),
        *_common_setup("\nfrom mytorch.nn import CrossEntropyLoss, MSELoss\n"),
        setup(_TESTER_DATA),
        markdown(
            """
            ## 2a MSE forward

            `forward(O, Y)` returns the mean of (O - Y)^2 over all N q entries.
            """
        ),
        student(
            """
            O = X @ W + b.T
            mse = MSELoss()
            L = mse.forward(O, Y)

            O_torch = tensor(O, grad=True)
            L_torch = torch.nn.MSELoss()(O_torch, tensor(Y))

            compare("2a L = mse.forward(O, Y)", L, L_torch, any_shape=True)
            """
        ),
        markdown(
            """
            ## 2b MSE backward

            `backward()` takes no argument and returns dL/dO, shaped like O.
            """
        ),
        student(
            """
            dLdO = mse.backward()
            L_torch.backward()

            compare("2b dLdO = mse.backward()", dLdO, O_torch.grad)
            """
        ),
        markdown(
            """
            ## 2c Cross-entropy forward

            Softmax cross-entropy averaged over the N rows, as `torch.nn.CrossEntropyLoss`
            with probability targets. N = 6 rows, C = 4 classes, one-hot Y.
            """
        ),
        student(
            """
            rng = np.random.default_rng(2)
            N, C = 6, 4
            Y_onehot = np.eye(C)[rng.integers(C, size=N)]
            logits = {
                "logits ~ N(0, 1)": rng.normal(size=(N, C)),
                "logits of size 1e3": 1e3 * rng.normal(size=(N, C)),
            }

            runs = {}
            for case, O_case in logits.items():
                cross_entropy = CrossEntropyLoss()
                L = cross_entropy.forward(O_case, Y_onehot)

                O_torch = tensor(O_case, grad=True)
                L_torch = torch.nn.CrossEntropyLoss()(O_torch, tensor(Y_onehot))
                L_torch.backward()

                compare(f"2c L = cross_entropy.forward(O, Y), {case}", L, L_torch, any_shape=True)
                runs[case] = (cross_entropy, O_torch)
            """
        ),
        markdown(
            """
            ## 2d Cross-entropy backward

            `backward()` returns dL/dO = (softmax(O) - Y) / N.
            """
        ),
        student(
            """
            for case, (cross_entropy, O_torch) in runs.items():
                dLdO = cross_entropy.backward()
                compare(f"2d dLdO = cross_entropy.backward(), {case}", dLdO, O_torch.grad)
            """
        ),
        *_summary(),
    ]


def _sgd_tester() -> list[Cell]:
    return [
        markdown(
            """
            # SGDTester: problem 3

            Compares one step of your `mytorch.optim.SGD` with `torch.optim.SGD` at the same
            learning rate. The layers are stand-ins that hold only W, b, dLdW and dLdb, so a
            bug in your Linear cannot show up here.
            """,
            _HOW_TO_RUN,
        ),
        *_common_setup("\nfrom mytorch.optim import SGD\n"),
        setup(
            '''
            class StandInLayer:
                """What SGD needs of a Linear: W, b and the gradients its backward stored."""

                def __init__(self, W, b, dLdW, dLdb):
                    self.W, self.b = W.copy(), b.copy()
                    self.dLdW, self.dLdb = dLdW.copy(), dLdb.copy()


            class StandInModel:
                """What SGD needs of a model: its list of layers."""

                def __init__(self, layers):
                    self.layers = layers


            def torch_step(layer, lr):
                """W and b after one torch.optim.SGD step (torch's weight is our W^T)."""
                weight, bias = tensor(layer.W.T, grad=True), tensor(layer.b, grad=True)
                weight.grad, bias.grad = tensor(layer.dLdW.T), tensor(layer.dLdb)
                torch.optim.SGD([weight, bias], lr=lr).step()
                return weight.detach().numpy().T, bias.detach().numpy()
            '''
        ),
        setup(_TESTER_DATA),
        markdown(
            """
            ## 3 SGD on a single layer

            `SGD(layer, lr)` updates one Linear directly: W -= lr dLdW and b -= lr dLdb.
            Here b and dLdb are (5, 1), as in testerData.
            """
        ),
        student(
            """
            lr = 0.1
            rng = np.random.default_rng(3)
            layer = StandInLayer(W, b, rng.normal(size=W.shape), rng.normal(size=b.shape))
            W_torch, b_torch = torch_step(layer, lr)

            optimizer = SGD(layer, lr=lr)
            optimizer.zero_grad()
            optimizer.step()

            compare("3 W after step, single layer", layer.W, W_torch)
            compare("3 b after step, single layer", layer.b, b_torch, any_shape=True)
            """
        ),
        markdown(
            """
            ## 3 SGD on a model

            `SGD(model, lr)` updates every layer of `model.layers`; here two layers, 10 -> 8
            -> 5, with b stored as (h,), and another learning rate.
            """
        ),
        student(
            """
            lr = 0.05
            layers = [
                StandInLayer(
                    rng.normal(size=(n_in, n_out)),
                    rng.normal(size=n_out),
                    rng.normal(size=(n_in, n_out)),
                    rng.normal(size=n_out),
                )
                for n_in, n_out in [(10, 8), (8, 5)]
            ]
            after_torch = [torch_step(layer, lr) for layer in layers]

            SGD(StandInModel(layers), lr=lr).step()

            for index, (layer, (W_torch, b_torch)) in enumerate(zip(layers, after_torch)):
                compare(f"3 layers[{index}].W after step", layer.W, W_torch)
                compare(f"3 layers[{index}].b after step", layer.b, b_torch, any_shape=True)
            """
        ),
        *_summary(),
    ]


def _activation_tester() -> list[Cell]:
    return [
        markdown(
            """
            # ActivationTester: problems 4a-4c (and Identity, which the MLPs use)

            Compares `forward(H)` and `backward()` (the element-wise derivative dA/dH) of
            your activations with torch's, on a grid over [-6, 6] and on values up to
            |H| = 50, then plots yours over torch's.
            """,
            _HOW_TO_RUN,
        ),
        *_common_setup(
            """
            import matplotlib.pyplot as plt

            from mytorch.nn import Identity, ReLU, Sigmoid, Tanh
            """
        ),
        setup(
            '''
            # An even number of points symmetric about 0 never hits 0, where ReLU has no slope.
            H_cases = {
                "grid over [-6, 6]": np.linspace(-6.0, 6.0, 48).reshape(6, 8),
                "|H| up to 50": np.array([[-50.0, -20.0, -5.0, -1e-3], [1e-3, 5.0, 20.0, 50.0]]),
            }


            def check_activation(label, activation, torch_function):
                """Forward and backward of one activation against torch on every case of H."""
                for case, H in H_cases.items():
                    A = activation.forward(H)
                    dAdH = activation.backward()

                    H_torch = tensor(H, grad=True)
                    A_torch = torch_function(H_torch)
                    A_torch.sum().backward()  # element-wise, so this gradient is dA/dH

                    compare(f"{label} A = forward(H), {case}", A, A_torch)
                    compare(f"{label} dA/dH = backward(), {case}", dAdH, H_torch.grad)
            '''
        ),
        markdown("## Identity\n\nA = H and dA/dH = 1; the output layer of every MLP uses it."),
        student('check_activation("Identity", Identity(), lambda H: H * 1.0)'),
        markdown("## 4a Sigmoid\n\nA = 1 / (1 + exp(-H)) and dA/dH = A (1 - A)."),
        student('check_activation("4a Sigmoid", Sigmoid(), torch.sigmoid)'),
        markdown("## 4b Tanh\n\nA = tanh(H) and dA/dH = 1 - A^2."),
        student('check_activation("4b Tanh", Tanh(), torch.tanh)'),
        markdown("## 4c ReLU\n\nA = max(H, 0) and dA/dH = 1 where H > 0, else 0."),
        student('check_activation("4c ReLU", ReLU(), torch.relu)'),
        markdown("## Plots\n\nYours in colour, torch's dashed black on top."),
        student(
            """
            activations = {
                "Identity": (Identity(), lambda H: H * 1.0),
                "Sigmoid": (Sigmoid(), torch.sigmoid),
                "Tanh": (Tanh(), torch.tanh),
                "ReLU": (ReLU(), torch.relu),
            }
            H_line = np.linspace(-6.0, 6.0, 400).reshape(1, -1)

            figure, axes = plt.subplots(2, 4, figsize=(14, 6), sharex=True)
            for column, (name, (activation, torch_function)) in enumerate(activations.items()):
                A = activation.forward(H_line)
                dAdH = activation.backward()
                H_torch = tensor(H_line, grad=True)
                A_torch = torch_function(H_torch)
                A_torch.sum().backward()

                for row, (mine, theirs, label) in enumerate(
                    [(A, A_torch, "A"), (dAdH, H_torch.grad, "dA/dH")]
                ):
                    axis = axes[row, column]
                    axis.plot(H_line[0], np.ravel(mine), linewidth=3, label="yours")
                    axis.plot(H_line[0], theirs.detach().numpy()[0], "k--", label="torch")
                    axis.set_title(f"{name}: {label}")
                    axis.grid(alpha=0.3)
            axes[0, 0].legend()
            figure.tight_layout()
            plt.show()
            """
        ),
        *_summary(),
    ]


def _mlp_tester() -> list[Cell]:
    return [
        markdown(
            """
            # MLPTester: problems 5a-5c

            Runs forward, backward and one SGD step of your MLP0, MLP1 and MLP4 next to the
            same network in torch: the same weights, the same input X and upstream gradient
            dLdZ from testerData, and the same learning rate for both optimizers. These
            checks use your Linear, ReLU, Identity and SGD, so fix LinearTester,
            ActivationTester and SGDTester first.
            """,
            _HOW_TO_RUN,
        ),
        *_common_setup(
            """
            from models import MLP0, MLP1, MLP4
            from mytorch.optim import SGD
            """
        ),
        setup(_TORCH_MLP),
        setup(
            '''
            LR = 0.1
            """One learning rate for your SGD and for torch's."""


            def check_mlp(label, model, weights):
                """Forward X, backward dLdZ and one SGD step, against torch's MLP."""
                if len(model.layers) != len(weights):
                    return report(
                        False, f"{label} number of layers", len(model.layers), len(weights)
                    )
                for layer, (W_layer, b_layer) in zip(model.layers, weights):
                    set_params(layer, W_layer, b_layer)
                reference = torch_mlp(weights)
                torch_linears = [m for m in reference if isinstance(m, torch.nn.Linear)]

                A = model.forward(X)
                X_torch = tensor(X, grad=True)
                A_torch = reference(X_torch)
                compare(f"{label} A = model.forward(X)", A, A_torch)

                dLdX = model.backward(dLdZ)
                A_torch.backward(tensor(dLdZ))
                if dLdX is not None:
                    compare(f"{label} dLdX = model.backward(dLdZ)", dLdX, X_torch.grad)
                for index, (layer, linear) in enumerate(zip(model.layers, torch_linears)):
                    compare(f"{label} layers[{index}].dLdW", layer.dLdW, linear.weight.grad.T)
                    dLdb_torch = linear.bias.grad
                    compare(f"{label} layers[{index}].dLdb", layer.dLdb, dLdb_torch, any_shape=True)

                SGD(model, lr=LR).step()
                torch.optim.SGD(reference.parameters(), lr=LR).step()
                for index, (layer, linear) in enumerate(zip(model.layers, torch_linears)):
                    compare(f"{label} layers[{index}].W after step", layer.W, linear.weight.T)
                    what = f"{label} layers[{index}].b after step"
                    compare(what, layer.b, linear.bias, any_shape=True)


            rng = np.random.default_rng(5)
            '''
        ),
        setup(_TESTER_DATA),
        markdown(
            """
            ## 5a MLP0

            X -> Linear(10, 5) -> Identity, with the handout's W and b.
            """
        ),
        student('check_mlp("5a MLP0", MLP0(10, 5), [(W, b)])'),
        markdown(
            """
            ## 5b MLP1

            X -> Linear(10, 8) -> ReLU -> Linear(8, 5) -> Identity.
            """
        ),
        student('check_mlp("5b MLP1", MLP1(10, 5, 8), random_weights([10, 8, 5], rng))'),
        markdown(
            """
            ## 5c MLP4

            Four hidden layers of width 8, each followed by a ReLU, then Linear(8, 5).
            """
        ),
        student('check_mlp("5c MLP4", MLP4(10, 5, 8), random_weights([10, 8, 8, 8, 8, 5], rng))'),
        *_summary(),
    ]


def _training_tester() -> list[Cell]:
    return [
        markdown(
            """
            # TrainingTester: problem 6 (not graded)

            Trains your MLP1 with your CrossEntropyLoss and SGD on a small two-class data set
            that this notebook draws itself (two interleaving half-moons; nothing to
            download), next to the same network, loss and optimizer in torch, from the same
            start. The two loss curves should lie on top of each other.
            """,
            _HOW_TO_RUN,
        ),
        *_common_setup(
            """
            import matplotlib.pyplot as plt

            from models import MLP1
            from mytorch.nn import CrossEntropyLoss
            from mytorch.optim import SGD
            """
        ),
        setup(_TORCH_MLP),
        markdown("## The data"),
        setup(
            '''
            def two_moons(n, noise, rng):
                """n points on two interleaving half-circles plus N(0, noise^2); labels 0, 1."""
                label = rng.integers(2, size=n)
                angle = rng.uniform(0.0, np.pi, size=n)
                x = np.where(label == 0, np.cos(angle), 1.0 - np.cos(angle))
                y = np.where(label == 0, np.sin(angle), 0.5 - np.sin(angle))
                points = np.stack([x, y], axis=1) + rng.normal(0.0, noise, size=(n, 2))
                return (points - points.mean(axis=0)) / points.std(axis=0), label


            rng = np.random.default_rng(6)
            X_train, labels = two_moons(400, 0.1, rng)
            Y_train = np.eye(2)[labels]

            plt.figure(figsize=(4, 4))
            plt.scatter(X_train[:, 0], X_train[:, 1], c=labels, cmap="coolwarm", s=10)
            plt.title("two moons: 400 points, 2 classes")
            plt.show()
            '''
        ),
        markdown(
            """
            ## Training

            Full-batch gradient descent: forward, loss, backward, step, for every epoch,
            with the same learning rate for your SGD and torch's.
            """
        ),
        student(
            """
            HIDDEN, LR, EPOCHS = 32, 0.5, 300
            weights = [
                (rng.normal(0.0, 1.0, size=(2, HIDDEN)), np.zeros(HIDDEN)),
                (rng.normal(0.0, np.sqrt(2 / HIDDEN), size=(HIDDEN, 2)), np.zeros(2)),
            ]

            model = MLP1(2, 2, HIDDEN)
            for layer, (W_layer, b_layer) in zip(model.layers, weights):
                set_params(layer, W_layer, b_layer)
            criterion, optimizer = CrossEntropyLoss(), SGD(model, lr=LR)

            reference = torch_mlp(weights)
            torch_criterion = torch.nn.CrossEntropyLoss()
            torch_optimizer = torch.optim.SGD(reference.parameters(), lr=LR)
            X_torch, Y_torch = tensor(X_train), tensor(Y_train)

            losses, torch_losses = [], []
            for epoch in range(EPOCHS):
                L = criterion.forward(model.forward(X_train), Y_train)
                model.backward(criterion.backward())
                optimizer.step()
                losses.append(float(np.ravel(L)[0]))

                torch_optimizer.zero_grad()
                L_torch = torch_criterion(reference(X_torch), Y_torch)
                L_torch.backward()
                torch_optimizer.step()
                torch_losses.append(L_torch.item())

            accuracy = float(np.mean(np.argmax(model.forward(X_train), axis=1) == labels))
            compare(f"6 loss at each of the {EPOCHS} epochs", losses, torch_losses)
            report(accuracy >= 0.95, "6 training accuracy", f"{accuracy:.1%}", "95% or more")
            """
        ),
        markdown("## Plots\n\nThe loss curves, and the classes your trained model predicts."),
        student(
            """
            figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
            left.plot(losses, linewidth=3, label="yours")
            left.plot(torch_losses, "k--", label="torch")
            left.set(xlabel="epoch", ylabel="cross-entropy", title="training loss")
            left.legend()

            grid_x, grid_y = np.meshgrid(np.linspace(-2.5, 2.5, 200), np.linspace(-2.5, 2.5, 200))
            grid = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1)
            predicted = np.argmax(model.forward(grid), axis=1).reshape(grid_x.shape)
            right.contourf(grid_x, grid_y, predicted, alpha=0.3, cmap="coolwarm")
            right.scatter(X_train[:, 0], X_train[:, 1], c=labels, cmap="coolwarm", s=10)
            right.set_title(f"your model's classes (accuracy {accuracy:.1%})")
            figure.tight_layout()
            plt.show()
            """
        ),
        *_summary(),
    ]


NOTEBOOKS: dict[str, Callable[[], list[Cell]]] = {
    "LinearTester": _linear_tester,
    "LossTester": _loss_tester,
    "SGDTester": _sgd_tester,
    "ActivationTester": _activation_tester,
    "MLPTester": _mlp_tester,
    "TrainingTester": _training_tester,
}
"""Notebook name (the file is NAME.ipynb) -> its cells, in the handout's order."""


# ---- building and writing ----------------------------------------------------------------


def build(name: str) -> nbformat.NotebookNode:
    """The notebook `name` (a key of NOTEBOOKS): no outputs, cell ids "<name>-<index>"."""
    cells = []
    for index, cell in enumerate(NOTEBOOKS[name]()):
        if cell.tag is None:
            node = nbformat.v4.new_markdown_cell(cell.source)
        else:
            node = nbformat.v4.new_code_cell(cell.source, metadata={"tags": [cell.tag]})
        node["id"] = f"{name.lower()}-{index:02d}"
        cells.append(node)

    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = dict(KERNELSPEC)
    notebook.metadata["language_info"] = {"name": "python"}
    nbformat.validate(notebook)
    return notebook


def text(name: str) -> str:
    """The notebook `name` as written to disk."""
    return nbformat.writes(build(name)) + "\n"


def write_all(out_dir: Path) -> list[Path]:
    """Write every notebook into out_dir as NAME.ipynb; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in NOTEBOOKS:
        path = out_dir / f"{name}.ipynb"
        path.write_text(text(name), encoding="utf-8")
        logger.info("wrote %s", path)
        written.append(path)
    return written


def stale(out_dir: Path) -> list[str]:
    """File names in out_dir that are missing or differ from what write_all writes."""
    return [
        f"{name}.ipynb"
        for name in NOTEBOOKS
        if not (out_dir / f"{name}.ipynb").is_file()
        or (out_dir / f"{name}.ipynb").read_text(encoding="utf-8") != text(name)
    ]


def main(argv: list[str] | None = None) -> int:
    """`python -m grader.notebooks [--out DIR] [--check]`; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m grader.notebooks",
        description="Write the handout's six tester notebooks into student_template/.",
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "student_template")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a notebook is stale"
    )
    args = parser.parse_args(argv)

    if not args.check:
        written = write_all(args.out)
        print(f"wrote {len(written)} notebooks to {args.out}")
        return 0

    outdated = stale(args.out)
    for name in outdated:
        print(f"stale: {args.out / name}", file=sys.stderr)
    print(
        f"{len(outdated)} stale notebook(s): run `python -m grader.notebooks`"
        if outdated
        else "notebooks OK"
    )
    return 1 if outdated else 0


if __name__ == "__main__":
    sys.exit(main())
