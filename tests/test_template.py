"""The reference solution is right (against torch float64) and the handout is derived from it.

Numerical tests import the reference as a student submission would be imported: its root on
sys.path, `mytorch` and `models` as top-level packages.
"""

import ast
import importlib
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from grader import template
from grader.template import build_template, strip_source, template_drift

REPO_ROOT = Path(__file__).resolve().parent.parent
REFERENCE_DIR = REPO_ROOT / "reference"
TEMPLATE_DIR = REPO_ROOT / "student_template"
OWN_PACKAGES = ("mytorch", "models")
ALLOWED_IMPORTS = {"numpy", *OWN_PACKAGES}

RTOL = 1e-10
ATOL = 1e-12


def _python_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*.py") if "__pycache__" not in path.parts)


def _functions(root: Path) -> list[tuple[str, ast.FunctionDef]]:
    """Every function and method under `root`, as ("path::Class.name", node)."""
    found = []
    for path in _python_files(root):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            members = node.body if isinstance(node, ast.ClassDef) else [node]
            prefix = f"{node.name}." if isinstance(node, ast.ClassDef) else ""
            for member in members:
                if isinstance(member, ast.FunctionDef):
                    qualified_name = f"{path.relative_to(root).as_posix()}::{prefix}{member.name}"
                    found.append((qualified_name, member))
    return found


def _close(mine, expected, name: str) -> None:
    """Assert `mine` equals the torch value `expected`, naming the quantity on failure."""
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else expected
    assert np.shape(mine) == np.shape(expected), (
        f"{name}: shape {np.shape(mine)}, reference {np.shape(expected)}"
    )
    np.testing.assert_allclose(mine, expected, rtol=RTOL, atol=ATOL, err_msg=name)


@pytest.fixture(scope="module")
def ref():
    """The reference's mytorch.nn, mytorch.optim and models, imported as top-level packages.

    Any mytorch or models already imported by another test is set aside and put back after.
    """

    def is_own(name):
        return name.split(".")[0] in OWN_PACKAGES

    set_aside = {name: module for name, module in sys.modules.items() if is_own(name)}
    for name in set_aside:
        del sys.modules[name]
    sys.path.insert(0, str(REFERENCE_DIR))

    yield types.SimpleNamespace(
        nn=importlib.import_module("mytorch.nn"),
        optim=importlib.import_module("mytorch.optim"),
        models=importlib.import_module("models"),
    )

    sys.path.remove(str(REFERENCE_DIR))
    for name in [name for name in sys.modules if is_own(name)]:
        del sys.modules[name]
    sys.modules.update(set_aside)


# The handout


def test_committed_template_is_the_stripped_reference():
    assert template_drift(REFERENCE_DIR, TEMPLATE_DIR) == [], (
        "student_template/ is stale: run `python -m grader.template` and commit the result"
    )


TEMPLATE_FUNCTIONS = dict(_functions(TEMPLATE_DIR))
REFERENCE_FILES = {
    path.relative_to(REFERENCE_DIR).as_posix(): path for path in _python_files(REFERENCE_DIR)
}


@pytest.mark.parametrize("qualified_name", TEMPLATE_FUNCTIONS)
def test_template_function_is_docstring_then_raise_not_implemented(qualified_name):
    function = TEMPLATE_FUNCTIONS[qualified_name]
    body = [ast.unparse(statement) for statement in function.body]

    assert ast.get_docstring(function) and body[1:] == ["raise NotImplementedError"], (
        f"{qualified_name} has body {body}"
    )


@pytest.mark.parametrize("relative_path", REFERENCE_FILES)
def test_reference_imports_only_numpy_and_its_own_packages(relative_path):
    source = REFERENCE_FILES[relative_path].read_text(encoding="utf-8")
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.add(node.module.split(".")[0])

    assert imported <= ALLOWED_IMPORTS, f"forbidden imports: {imported - ALLOWED_IMPORTS}"


def test_strip_source_keeps_docstrings_and_comments_outside_bodies():
    source = (
        '"""Module."""\n\n# about C\nclass C:\n    """Class."""\n\n'
        '    def f(self, x):\n        """Doc."""\n        # inside\n        return x  # inside\n'
    )

    assert strip_source(source) == (
        '"""Module."""\n\n# about C\nclass C:\n    """Class."""\n\n'
        '    def f(self, x):\n        """Doc."""\n        raise NotImplementedError\n'
    )


def test_strip_source_gives_a_docstring_only_function_a_raise():
    assert strip_source('def f():\n    """Doc."""\n') == (
        'def f():\n    """Doc."""\n    raise NotImplementedError\n'
    )


def test_strip_source_marks_imports_only_the_bodies_used():
    source = "import numpy as np\n\nX = 1\n\n\ndef f():\n    return np.zeros(X)\n"

    assert strip_source(source).splitlines()[0] == "import numpy as np  # noqa: F401"


def test_build_template_leaves_non_python_files_alone(tmp_path):
    (tmp_path / "testerData.npz").write_bytes(b"not regenerated")

    build_template(REFERENCE_DIR, tmp_path)

    assert (tmp_path / "testerData.npz").read_bytes() == b"not regenerated"


def test_template_drift_names_changed_missing_and_extra_files(tmp_path):
    build_template(REFERENCE_DIR, tmp_path)
    (tmp_path / "mytorch/nn/linear.py").write_text("# edited by hand\n", encoding="utf-8")
    (tmp_path / "mytorch/nn/loss.py").unlink()
    (tmp_path / "models/extra.py").write_text("", encoding="utf-8")

    assert template_drift(REFERENCE_DIR, tmp_path) == [
        "models/extra.py",
        "mytorch/nn/linear.py",
        "mytorch/nn/loss.py",
    ]


@pytest.mark.parametrize(
    ("edited", "exit_status"), [(False, 0), (True, 1)], ids=["current", "stale"]
)
def test_template_check_exits_1_only_when_stale(tmp_path, edited, exit_status):
    build_template(REFERENCE_DIR, tmp_path)
    if edited:
        (tmp_path / "models/mlp.py").write_text("# edited by hand\n", encoding="utf-8")

    assert template.main(["--check", "--out", str(tmp_path)]) == exit_status


# Linear

LINEAR_SHAPES = [(1, 1, 1), (4, 3, 5), (7, 6, 2)]
LINEAR_IDS = [f"N{N}-in{C_in}-out{C_out}" for N, C_in, C_out in LINEAR_SHAPES]


def _linear_case(ref, N, C_in, C_out):
    """A reference Linear with random W and b, run forward and backward beside torch."""
    rng = np.random.default_rng(N * 100 + C_in * 10 + C_out)
    A, W, b, dLdO = (
        rng.standard_normal(shape) for shape in [(N, C_in), (C_in, C_out), (C_out,), (N, C_out)]
    )
    layer = ref.nn.Linear(C_in, C_out)
    layer.W, layer.b = W.copy(), b.copy()
    mine = {"O": layer.forward(A), "dLdA": layer.backward(dLdO)}
    mine.update(dLdW=layer.dLdW, dLdb=layer.dLdb)

    A_t, W_t, b_t = (torch.tensor(x, requires_grad=True) for x in (A, W, b))
    O_t = A_t @ W_t + b_t
    O_t.backward(torch.tensor(dLdO))
    expected = {"O": O_t, "dLdA": A_t.grad, "dLdW": W_t.grad, "dLdb": b_t.grad}
    return mine, expected


def test_linear_init_draws_W_with_std_0_1_and_zero_b(ref):
    np.random.seed(0)
    layer = ref.nn.Linear(300, 200)

    assert layer.W.shape == (300, 200) and layer.W.dtype == np.float64
    assert abs(layer.W.std() - 0.1) < 0.002 and abs(layer.W.mean()) < 0.002
    assert np.array_equal(layer.b, np.zeros(200))


@pytest.mark.parametrize("quantity", ["O", "dLdA", "dLdW", "dLdb"])
@pytest.mark.parametrize(("N", "C_in", "C_out"), LINEAR_SHAPES, ids=LINEAR_IDS)
def test_linear_forward_and_backward_match_torch(ref, N, C_in, C_out, quantity):
    mine, expected = _linear_case(ref, N, C_in, C_out)

    _close(mine[quantity], expected[quantity], quantity)


# Losses

LOSS_SHAPES = {"one-hot-5x4": (5, 4), "one-hot-1x1": (1, 1), "one-hot-8x10": (8, 10)}


def _loss_inputs(N, C, scale=1.0, soft=False):
    rng = np.random.default_rng(N * 10 + C)
    O = rng.standard_normal((N, C)) * scale
    if soft:
        Y = rng.random((N, C))
        return O, Y / Y.sum(axis=1, keepdims=True)
    return O, np.eye(C)[rng.integers(0, C, N)]


@pytest.mark.parametrize(("N", "q"), LOSS_SHAPES.values(), ids=LOSS_SHAPES.keys())
def test_mse_forward_and_backward_match_torch(ref, N, q):
    O, Y = _loss_inputs(N, q)
    loss = ref.nn.MSELoss()
    mine = {"L": loss.forward(O, Y), "dLdO": loss.backward()}

    O_t = torch.tensor(O, requires_grad=True)
    L_t = torch.nn.functional.mse_loss(O_t, torch.tensor(Y))
    L_t.backward()

    assert isinstance(mine["L"], float)
    _close(mine["L"], L_t, "L")
    _close(mine["dLdO"], O_t.grad, "dLdO")


CE_CASES = {
    "one-hot-5x4": dict(N=5, C=4),
    "one-hot-1x1": dict(N=1, C=1),
    "soft-targets-6x3": dict(N=6, C=3, soft=True),
    "logits-1e3": dict(N=8, C=10, scale=1e3),
}


@pytest.mark.parametrize("case", CE_CASES.values(), ids=CE_CASES.keys())
def test_cross_entropy_forward_and_backward_match_torch(ref, case):
    O, Y = _loss_inputs(**case)
    loss = ref.nn.CrossEntropyLoss()
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        mine = {"L": loss.forward(O, Y), "dLdO": loss.backward()}

    O_t = torch.tensor(O, requires_grad=True)
    L_t = torch.nn.functional.cross_entropy(O_t, torch.tensor(Y))
    L_t.backward()

    assert isinstance(mine["L"], float) and np.isfinite(mine["L"])
    _close(mine["L"], L_t, "L")
    _close(mine["dLdO"], O_t.grad, "dLdO")


# Activations

ACTIVATIONS = {
    "Identity": lambda H: H * 1,
    "Sigmoid": torch.sigmoid,
    "Tanh": torch.tanh,
    "ReLU": torch.relu,
}
ACTIVATION_INPUT = np.concatenate(
    [np.linspace(-50, 50, 101), np.random.default_rng(4).uniform(-3, 3, 99)]
).reshape(8, 25)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_forward_and_derivative_match_torch_on_minus_50_to_50(ref, name):
    activation = getattr(ref.nn, name)()
    mine = {"A": activation.forward(ACTIVATION_INPUT.copy()), "dAdH": activation.backward()}

    H_t = torch.tensor(ACTIVATION_INPUT, requires_grad=True)
    A_t = ACTIVATIONS[name](H_t)
    A_t.sum().backward()

    _close(mine["A"], A_t, "A")
    _close(mine["dAdH"], H_t.grad, "dAdH")


def test_sigmoid_has_no_overflow_warning_at_1e3(ref):
    H = np.array([[-1e3, -1.0, 0.0, 1.0, 1e3]])

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        A = ref.nn.Sigmoid().forward(H)

    _close(A, torch.sigmoid(torch.tensor(H)), "A")


# SGD

SGD_CASES = {
    "model-with-layers": dict(b_shape=(3,), bare_layer=False),
    "single-linear": dict(b_shape=(3,), bare_layer=True),
    "b-(1,h)-dLdb-(h,)": dict(b_shape=(1, 3), bare_layer=False),
    "b-(h,1)-dLdb-(h,)": dict(b_shape=(3, 1), bare_layer=False),
}


@pytest.mark.parametrize("case", SGD_CASES.values(), ids=SGD_CASES.keys())
def test_sgd_step_matches_torch(ref, case):
    rng = np.random.default_rng(5)
    layers = [
        types.SimpleNamespace(
            W=rng.standard_normal((4, 3)),
            b=rng.standard_normal(case["b_shape"]),
            dLdW=rng.standard_normal((4, 3)),
            dLdb=rng.standard_normal(3),
        )
        for _ in range(1 if case["bare_layer"] else 2)
    ]
    parameters = [torch.tensor(x) for layer in layers for x in (layer.W, layer.b)]
    for parameter, layer_grad in zip(
        parameters, [g for layer in layers for g in (layer.dLdW, layer.dLdb)], strict=True
    ):
        parameter.grad = torch.tensor(layer_grad.reshape(parameter.shape))
    model = layers[0] if case["bare_layer"] else types.SimpleNamespace(layers=layers)

    optimizer = ref.optim.SGD(model, lr=0.3)
    optimizer.zero_grad()
    optimizer.step()
    torch.optim.SGD(parameters, lr=0.3).step()

    mine = [x for layer in layers for x in (layer.W, layer.b)]
    for index, (updated, expected) in enumerate(zip(mine, parameters, strict=True)):
        _close(updated, expected, f"layer {index // 2} {'Wb'[index % 2]}")


# MLPs

MLP_CASES = {
    "MLP0": ("MLP0", dict(num_inputs=5, num_outputs=3)),
    "MLP1": ("MLP1", dict(num_inputs=5, num_outputs=3, num_hiddens=7)),
    "MLP4": ("MLP4", dict(num_inputs=5, num_outputs=3, num_hiddens=7)),
}
HIDDEN_LAYERS = {"MLP0": 0, "MLP1": 1, "MLP4": 4}


def _mlp_case(ref, name, sizes):
    """A reference MLP run forward and backward beside the same network in torch."""
    np.random.seed(6)
    model = getattr(ref.models, name)(**sizes)
    rng = np.random.default_rng(7)
    X = rng.standard_normal((9, sizes["num_inputs"]))
    dLdA = rng.standard_normal((9, sizes["num_outputs"]))
    mine = {"A": model.forward(X), "dLdX": model.backward(dLdA)}
    mine.update({f"layers[{i}].dLdW": layer.dLdW for i, layer in enumerate(model.layers)})
    mine.update({f"layers[{i}].dLdb": layer.dLdb for i, layer in enumerate(model.layers)})

    X_t = torch.tensor(X, requires_grad=True)
    parameters = [
        (torch.tensor(layer.W, requires_grad=True), torch.tensor(layer.b, requires_grad=True))
        for layer in model.layers
    ]
    A_t = X_t
    for i, (W_t, b_t) in enumerate(parameters):
        A_t = A_t @ W_t + b_t
        A_t = torch.relu(A_t) if i < len(parameters) - 1 else A_t
    A_t.backward(torch.tensor(dLdA))
    expected = {"A": A_t, "dLdX": X_t.grad}
    expected.update({f"layers[{i}].dLdW": W_t.grad for i, (W_t, _) in enumerate(parameters)})
    expected.update({f"layers[{i}].dLdb": b_t.grad for i, (_, b_t) in enumerate(parameters)})
    return model, mine, expected


@pytest.mark.parametrize(("name", "sizes"), MLP_CASES.values(), ids=MLP_CASES.keys())
def test_mlp_has_relu_after_each_hidden_layer_and_identity_at_output(ref, name, sizes):
    model = getattr(ref.models, name)(**sizes)
    kinds = [type(f).__name__ for f in model.f]

    assert len(model.layers) == HIDDEN_LAYERS[name] + 1
    assert kinds == ["ReLU"] * HIDDEN_LAYERS[name] + ["Identity"]
    assert len({id(f) for f in model.f}) == len(model.f), "activations must not be shared"


@pytest.mark.parametrize(("name", "sizes"), MLP_CASES.values(), ids=MLP_CASES.keys())
def test_mlp_forward_and_backward_match_torch(ref, name, sizes):
    _, mine, expected = _mlp_case(ref, name, sizes)

    assert mine.keys() == expected.keys()
    for quantity in mine:
        _close(mine[quantity], expected[quantity], quantity)
