"""Single-bug mutants of the reference solution, and variants of it that are not bugs.

A mutant is the reference with one bug put in by exact text edits. `loses` names the rubric
items that must lose points for it; every other item must keep full marks, because one bug
costs points only in the item that owns it. The grader checks every MLP item (5a-5c) with
trusted stand-ins for Linear and the activations, and SGD (3) on trusted stand-in layers, so
a Linear, activation or SGD bug never costs MLP points, and an MLP bug costs only the MLPs
whose result it changes (MLP0's only activation is Identity, whose derivative is 1).

A variant changes only how the solution represents things (bias shape, float32, int
derivatives, vectorised activations) and must keep 35/35.

This module holds data and `apply`; the tests that grade the mutants live elsewhere.
"""

import shutil
from dataclasses import dataclass
from pathlib import Path

RUBRIC_ITEMS = frozenset(
    {"1a", "1b", "1c", "2a", "2b", "2c", "2d", "3", "4a", "4b", "4c", "5a", "5b", "5c"}
)

LINEAR = "mytorch/nn/linear.py"
LOSS = "mytorch/nn/loss.py"
ACTIVATION = "mytorch/nn/activation.py"
SGD = "mytorch/optim/sgd.py"
MLP = "models/mlp.py"


@dataclass(frozen=True)
class Edit:
    """One exact text replacement in one file of the reference."""

    path: str
    """The file, relative to reference/, e.g. "mytorch/nn/linear.py"."""
    old: str
    """Text that occurs exactly once in that file (after the edits listed before this one)."""
    new: str
    """The text that replaces it."""


@dataclass(frozen=True)
class Mutant:
    """The reference changed by a few edits, and the rubric items that must lose points."""

    name: str
    """A short readable id, used as the pytest parameter id."""
    edits: tuple[Edit, ...]
    """The edits, applied in order."""
    loses: frozenset[str]
    """Rubric item ids that must score below full marks; empty for a variant."""
    note: str
    """What the change is and why it costs exactly these items."""

    @property
    def keeps(self) -> frozenset[str]:
        """The rubric items that must keep full marks."""
        return RUBRIC_ITEMS - self.loses


def _mutant(name: str, path: str, old: str, new: str, loses: set[str], note: str) -> Mutant:
    """A mutant made of one edit."""
    return Mutant(name, (Edit(path, old, new),), frozenset(loses), note)


def apply(mutant: Mutant, src_root: Path, dst_root: Path) -> Path:
    """Copy the reference at `src_root` to `dst_root`, apply the mutant's edits, return dst_root.

    `dst_root` becomes a submission root (mytorch/ and models/ in it); it may already exist.
    Raises ValueError, naming the mutant and file, when an `old` text does not occur exactly
    once, so a reference change that silently disables a mutant is caught.
    """
    shutil.copytree(
        src_root, dst_root, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True
    )

    for edit in mutant.edits:
        path = dst_root / edit.path
        text = path.read_text(encoding="utf-8")
        count = text.count(edit.old)
        if count != 1:
            raise ValueError(
                f"mutant {mutant.name!r}: {edit.old!r} occurs {count} times in {edit.path}, "
                "expected exactly once; update the edit to match the reference"
            )
        path.write_text(text.replace(edit.old, edit.new), encoding="utf-8")

    return dst_root


_W_INIT = "self.W = np.random.normal(0.0, 0.1, (num_inputs, num_outputs))"
_B_INIT = "self.b = np.zeros(num_outputs)"
_FORWARD = "return A @ self.W + self.b"
_DLDW = "self.dLdW = self.A.T @ dLdO"
_DLDB = "self.dLdb = dLdO.sum(axis=0)"
_DLDA = "return dLdO @ self.W.T"
_MSE = "return float(((O - Y) ** 2).sum() / (self.N * self.q))"
_MSE_BACKWARD = "return 2 * (self.O - self.Y) / (self.N * self.q)"
_CE = "return float((Y * (logsumexp - O)).sum() / self.N)"
_SIGMOID = "E = np.exp(-np.abs(H))\n        self.A = np.where(H >= 0, 1 / (1 + E), E / (1 + E))"
_RELU_DERIVATIVE = "return np.where(self.A > 0, 1.0, 0.0)"
_SGD_W = "layer.W -= self.lr * layer.dLdW"
_SGD_B = "layer.b -= self.lr * layer.dLdb.reshape(layer.b.shape)"
_HIDDEN = "Linear(num_hiddens, num_hiddens),\n            "


MUTANTS = [
    # Linear
    _mutant(
        "init-W-std-0.01",
        LINEAR,
        _W_INIT,
        _W_INIT.replace("0.1", "0.01"),
        {"1a"},
        "W drawn with std 0.01 (variance 1e-4): variance and std confused",
    ),
    _mutant(
        "init-W-transposed",
        LINEAR,
        _W_INIT,
        _W_INIT.replace("(num_inputs, num_outputs)", "(num_outputs, num_inputs)"),
        {"1a"},
        "W created (C_out, C_in), torch's layout; forward and backward are checked with W set",
    ),
    Mutant(
        "W-in-torch-layout-throughout",
        (
            Edit(
                LINEAR,
                _W_INIT,
                _W_INIT.replace("(num_inputs, num_outputs)", "(num_outputs, num_inputs)"),
            ),
            Edit(LINEAR, _FORWARD, "return A @ self.W.T + self.b"),
            Edit(LINEAR, _DLDW, "self.dLdW = dLdO.T @ self.A"),
            Edit(LINEAR, _DLDA, "return dLdO @ self.W"),
        ),
        frozenset({"1a"}),
        "W and dLdW kept (C_out, C_in) everywhere, as torch does: only 1a, which asks for "
        "(C_in, C_out), may lose; forward, backward, SGD and training use the student's layout",
    ),
    _mutant(
        "init-b-ones",
        LINEAR,
        _B_INIT,
        "self.b = np.ones(num_outputs)",
        {"1a"},
        "b initialised to ones instead of zeros",
    ),
    _mutant(
        "forward-without-b",
        LINEAR,
        _FORWARD,
        "return A @ self.W",
        {"1b"},
        "forward forgets the bias; backward does not use the output, so 1c keeps its marks",
    ),
    _mutant(
        "dLdW-transposed",
        LINEAR,
        _DLDW,
        "self.dLdW = dLdO.T @ self.A",
        {"1c"},
        "dLdW is (C_out, C_in), the transpose of W",
    ),
    _mutant(
        "dLdb-mean-over-N",
        LINEAR,
        _DLDB,
        "self.dLdb = dLdO.mean(axis=0)",
        {"1c"},
        "dLdb averaged over the N rows instead of summed: off by a factor N",
    ),
    _mutant(
        "dLdA-without-W-transpose",
        LINEAR,
        _DLDA,
        "return dLdO @ self.W",
        {"1c"},
        "dLdA = dLdO W: wrong numbers when C_in == C_out, a shape error otherwise",
    ),
    _mutant(
        "backward-returns-nothing",
        LINEAR,
        _DLDA,
        "dLdO @ self.W.T",
        {"1c"},
        "dLdW and dLdb are stored but dLdA is never returned: backward returns None",
    ),
    # Losses
    _mutant(
        "mse-mean-over-N-only",
        LOSS,
        _MSE,
        "return float(((O - Y) ** 2).sum() / self.N)",
        {"2a"},
        "MSE divided by N instead of N q: off by a factor q",
    ),
    _mutant(
        "mse-backward-without-2",
        LOSS,
        _MSE_BACKWARD,
        "return (self.O - self.Y) / (self.N * self.q)",
        {"2b"},
        "dLdO misses the factor 2",
    ),
    _mutant(
        "mse-forward-modifies-O-in-place",
        LOSS,
        _MSE,
        "O -= Y\n        return float((O**2).sum() / (self.N * self.q))",
        {"2b"},
        "forward subtracts Y from the caller's O in place (L itself stays right), so "
        "backward sees O - Y where it expects O",
    ),
    _mutant(
        "mse-backward-sign",
        LOSS,
        _MSE_BACKWARD,
        "return 2 * (self.Y - self.O) / (self.N * self.q)",
        {"2b"},
        "dLdO = 2 (Y - O) / (N q): wrong sign",
    ),
    _mutant(
        "ce-forward-without-max-shift",
        LOSS,
        "logsumexp = shift + np.log(E.sum(axis=1, keepdims=True))",
        "logsumexp = np.log(np.exp(O).sum(axis=1, keepdims=True))",
        {"2c"},
        "L uses exp(O) unshifted: exact on small logits, inf at logits of 1e3; the softmax "
        "kept for backward is still shifted, so 2d keeps its marks",
    ),
    _mutant(
        "ce-forward-sum-over-N",
        LOSS,
        _CE,
        "return float((Y * (logsumexp - O)).sum())",
        {"2c"},
        "L summed over the rows instead of averaged: off by a factor N",
    ),
    _mutant(
        "ce-backward-not-over-N",
        LOSS,
        "return (self.softmax - self.Y) / self.N",
        "return self.softmax - self.Y",
        {"2d"},
        "dLdO = softmax(O) - Y without dividing by N",
    ),
    # SGD
    _mutant(
        "sgd-ascends-W",
        SGD,
        _SGD_W,
        "layer.W += self.lr * layer.dLdW",
        {"3"},
        "W moves up the gradient: wrong sign",
    ),
    _mutant(
        "sgd-ignores-b",
        SGD,
        "\n            " + _SGD_B,
        "",
        {"3"},
        "step updates W only; b never changes",
    ),
    _mutant(
        "sgd-ignores-lr",
        SGD,
        _SGD_W,
        "layer.W -= layer.dLdW",
        {"3"},
        "W takes a full gradient step whatever lr is",
    ),
    # Activations
    _mutant(
        "sigmoid-forward-of-minus-H",
        ACTIVATION,
        "np.where(H >= 0, 1 / (1 + E), E / (1 + E))",
        "np.where(H >= 0, E / (1 + E), 1 / (1 + E))",
        {"4a"},
        "A = sigmoid(-H); the derivative A (1 - A) happens to stay right",
    ),
    _mutant(
        "sigmoid-derivative-missing-A",
        ACTIVATION,
        "return self.A * (1 - self.A)",
        "return 1 - self.A",
        {"4a"},
        "dA/dH = 1 - A instead of A (1 - A)",
    ),
    _mutant(
        "tanh-derivative-not-squared",
        ACTIVATION,
        "return 1 - self.A**2",
        "return 1 - self.A",
        {"4b"},
        "dA/dH = 1 - tanh(H) instead of 1 - tanh(H)^2",
    ),
    _mutant(
        "relu-derivative-ones",
        ACTIVATION,
        _RELU_DERIVATIVE,
        "return np.ones_like(self.A)",
        {"4c"},
        "dA/dH = 1 everywhere, as if ReLU were the identity",
    ),
    _mutant(
        "relu-forward-abs",
        ACTIVATION,
        "self.A = np.maximum(H, 0)",
        "self.A = np.abs(H)",
        {"4c"},
        "A = |H|, and so the derivative is 1 where H < 0 too",
    ),
    # MLPs
    _mutant(
        "mlp0-output-relu",
        MLP,
        "self.f = [Identity()]",
        "self.f = [ReLU()]",
        {"5a"},
        "MLP0 puts a ReLU on its output instead of Identity",
    ),
    _mutant(
        "mlp1-hidden-identity",
        MLP,
        "self.f = [ReLU(), Identity()]",
        "self.f = [Identity(), Identity()]",
        {"5b"},
        "MLP1 has no ReLU after its hidden layer: a linear model",
    ),
    Mutant(
        "mlp4-three-hidden-layers",
        (
            Edit(MLP, _HIDDEN * 3, _HIDDEN * 2),
            Edit(
                MLP,
                "self.f = [ReLU(), ReLU(), ReLU(), ReLU(), Identity()]",
                "self.f = [ReLU(), ReLU(), ReLU(), Identity()]",
            ),
        ),
        frozenset({"5c"}),
        "MLP4 built with three hidden layers (and three ReLUs) instead of four",
    ),
    _mutant(
        "mlp-backward-skips-activation-derivative",
        MLP,
        "dLdZ = dLdA * f.backward()",
        "dLdZ = dLdA",
        {"5b", "5c"},
        "backward passes dLdA straight to each Linear; harmless for MLP0, whose only "
        "activation is Identity",
    ),
    _mutant(
        "mlp-forward-activation-before-linear",
        MLP,
        "A = f.forward(layer.forward(A))",
        "A = layer.forward(f.forward(A))",
        {"5a", "5b", "5c"},
        "forward applies f[i] before layers[i]; even MLP0 loses: its output is right, but "
        "Identity then stores X, so its derivative has X's shape, not the output's",
    ),
]


VARIANTS = [
    Mutant(
        "components-called-like-functions",
        (
            Edit(
                ACTIVATION,
                "class Identity:",
                "class _Callable:\n    def __call__(self, H):\n        return self.forward(H)\n"
                "\n\nclass Identity(_Callable):",
            ),
            Edit(ACTIVATION, "class Sigmoid:", "class Sigmoid(_Callable):"),
            Edit(ACTIVATION, "class Tanh:", "class Tanh(_Callable):"),
            Edit(ACTIVATION, "class ReLU:", "class ReLU(_Callable):"),
            Edit(
                LINEAR,
                "    def forward(self, A):",
                "    def __call__(self, A):\n        return self.forward(A)\n\n"
                "    def forward(self, A):",
            ),
            Edit(MLP, "A = f.forward(layer.forward(A))", "A = f(layer(A))"),
        ),
        frozenset(),
        "layers and activations define __call__ and the MLP calls them like functions",
    ),
    Mutant(
        "b-column-(h,1)",
        (
            Edit(LINEAR, _B_INIT, "self.b = np.zeros((num_outputs, 1))"),
            Edit(LINEAR, _FORWARD, "return A @ self.W + self.b.T"),
            Edit(LINEAR, _DLDB, "self.dLdb = dLdO.sum(axis=0).reshape(-1, 1)"),
        ),
        frozenset(),
        "b and dLdb stored as (C_out, 1) columns",
    ),
    Mutant(
        "b-row-(1,h)",
        (
            Edit(LINEAR, _B_INIT, "self.b = np.zeros((1, num_outputs))"),
            Edit(LINEAR, _DLDB, "self.dLdb = dLdO.sum(axis=0, keepdims=True)"),
        ),
        frozenset(),
        "b and dLdb stored as (1, C_out) rows",
    ),
    _mutant(
        "dLdb-row-(1,h)-with-b-(h,)",
        LINEAR,
        _DLDB,
        "self.dLdb = dLdO.sum(axis=0, keepdims=True)",
        set(),
        "b is (C_out,) but dLdb is kept as (1, C_out)",
    ),
    Mutant(
        "linear-float32",
        (
            Edit(LINEAR, _W_INIT, _W_INIT + ".astype(np.float32)"),
            Edit(LINEAR, _B_INIT, "self.b = np.zeros(num_outputs, dtype=np.float32)"),
            Edit(LINEAR, "self.A = A\n", "self.A = A.astype(np.float32)\n"),
            Edit(LINEAR, _FORWARD, "return (A @ self.W + self.b).astype(np.float32)"),
            Edit(LINEAR, _DLDW, "self.dLdW = (self.A.T @ dLdO).astype(np.float32)"),
            Edit(LINEAR, _DLDB, "self.dLdb = dLdO.sum(axis=0).astype(np.float32)"),
            Edit(LINEAR, _DLDA, "return (dLdO @ self.W.T).astype(np.float32)"),
        ),
        frozenset(),
        "Linear keeps W, b and A in float32 and returns float32 results",
    ),
    Mutant(
        "activations-np-vectorize",
        (
            Edit(
                ACTIVATION,
                _SIGMOID,
                "self.A = np.vectorize(lambda h: 1 / (1 + np.exp(-h)), otypes=[float])(H)",
            ),
            Edit(
                ACTIVATION,
                "self.A = np.tanh(H)",
                "self.A = np.vectorize(\n"
                "            lambda h: (np.exp(h) - np.exp(-h)) / (np.exp(h) + np.exp(-h)),\n"
                "            otypes=[float],\n"
                "        )(H)",
            ),
            Edit(
                ACTIVATION,
                "self.A = np.maximum(H, 0)",
                "self.A = np.vectorize(lambda h: h if h > 0 else 0.0, otypes=[float])(H)",
            ),
            Edit(
                ACTIVATION,
                _RELU_DERIVATIVE,
                "return np.vectorize(lambda a: 1.0 if a > 0 else 0.0, otypes=[float])(self.A)",
            ),
        ),
        frozenset(),
        "Sigmoid, Tanh and ReLU written as scalar functions under np.vectorize",
    ),
    _mutant(
        "sigmoid-unshifted",
        ACTIVATION,
        _SIGMOID,
        "self.A = 1 / (1 + np.exp(-H))",
        set(),
        "textbook sigmoid: overflows only for H < -709, and activations are tested on |H| <= 50",
    ),
    _mutant(
        "relu-derivative-int",
        ACTIVATION,
        _RELU_DERIVATIVE,
        "return np.where(self.A > 0, 1, 0)",
        set(),
        "the ReLU derivative returned as an int array of 0s and 1s",
    ),
    Mutant(
        "losses-return-numpy-scalars",
        (
            Edit(LOSS, _MSE, "return ((O - Y) ** 2).sum() / (self.N * self.q)"),
            Edit(LOSS, _CE, "return (Y * (logsumexp - O)).sum() / self.N"),
        ),
        frozenset(),
        "forward returns np.float64 rather than a Python float",
    ),
    Mutant(
        "sgd-reassigns-W-and-b",
        (
            Edit(SGD, _SGD_W, "layer.W = layer.W - self.lr * layer.dLdW"),
            Edit(SGD, _SGD_B, "layer.b = layer.b - self.lr * layer.dLdb.reshape(layer.b.shape)"),
        ),
        frozenset(),
        "step binds new arrays to W and b instead of updating them in place",
    ),
    _mutant(
        "mlp-backward-returns-nothing",
        MLP,
        "dLdA = layer.backward(dLdZ)\n        return dLdA\n",
        "dLdA = layer.backward(dLdZ)\n",
        set(),
        "MLP backward returns None; the contract does not ask it to return dLdX",
    ),
]
