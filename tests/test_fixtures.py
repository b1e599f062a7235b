"""The committed fixtures are reproducible, intact, in the course's format, and correct.

Correctness is pinned against plain NumPy, independently of torch: if the oracle ever
computed something else than the homework asks for, these tests say so.
"""

import hashlib
import io
import shutil
from pathlib import Path

import numpy as np
import pytest

from grader import fixtures

REPO = Path(__file__).resolve().parent.parent
FIXTURES_DIR = REPO / "fixtures"
TEMPLATE_DIR = REPO / "student_template"
COURSE_TESTER_DATA = REPO / ".." / "shared" / "fixtures" / "testerData.npz"

COURSE_LAYOUT = [
    ("W", (10, 5), np.float64),
    ("b", (5, 1), np.float64),
    ("X", (5, 10), np.float64),
    ("Y", (5, 5), np.float64),
    ("dLdZ", (5, 5), np.float64),
]
"""The course's testerData.npz: keys in order, shapes and dtypes."""

GENERATED_FILES = [f"{stem}.npz" for stem in fixtures.FIXTURE_FILES] + [
    fixtures.MANIFEST_NAME,
    fixtures.TEMPLATE_DATA_KEY,
]

RTOL = 1e-12
ATOL = 1e-15
"""Oracle against NumPy: a few ulps, plus 1e-15 absolute for values that round to ~0
(1 - tanh(H)^2 at |H| ~ 20 differs by 3e-16 between the two)."""


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    """A fresh regeneration with the default seed: its root holds fixtures/ and template/."""
    root = tmp_path_factory.mktemp("regenerated")
    fixtures.regenerate(root / "fixtures", root / "template", fixtures.DEFAULT_SEED)
    return root


@pytest.fixture(scope="module")
def fresh(regenerated) -> dict:
    """The regenerated fixtures, loaded: stem -> case -> key -> array."""
    return fixtures.load(regenerated / "fixtures")


def _generated_path(name: str, fixtures_dir: Path, template_dir: Path) -> Path:
    if name == fixtures.TEMPLATE_DATA_KEY:
        return template_dir / fixtures.TEMPLATE_DATA_NAME
    return fixtures_dir / name


def _layout(path: Path) -> list:
    with np.load(path, allow_pickle=False) as archive:
        return [(key, archive[key].shape, archive[key].dtype) for key in archive.files]


@pytest.mark.parametrize("name", GENERATED_FILES)
def test_regenerating_reproduces_committed_file_bit_for_bit(regenerated, name):
    committed = _generated_path(name, FIXTURES_DIR, TEMPLATE_DIR)
    fresh_file = _generated_path(name, regenerated / "fixtures", regenerated / "template")

    assert fresh_file.read_bytes() == committed.read_bytes()


def test_manifest_hashes_match_committed_files():
    manifest = fixtures.load_manifest(FIXTURES_DIR)

    actual = {
        name: hashlib.sha256(
            _generated_path(name, FIXTURES_DIR, TEMPLATE_DIR).read_bytes()
        ).hexdigest()
        for name in manifest.files
    }

    assert actual == manifest.files


def test_check_passes_on_committed_fixtures():
    result = fixtures.check(FIXTURES_DIR, TEMPLATE_DIR)

    assert result.problems == []


def test_check_reports_a_reference_that_loses_points_by_item():
    buggy_reference = FIXTURES_DIR.parent / "examples" / "submission"

    result = fixtures.check(FIXTURES_DIR, TEMPLATE_DIR, buggy_reference)

    lost = {problem.split(" on item ")[1].split(" ")[0] for problem in result.problems}
    assert lost == {"2d", "4b", "6"}


def test_tester_data_has_course_keys_order_shapes_dtypes():
    assert _layout(TEMPLATE_DIR / fixtures.TEMPLATE_DATA_NAME) == COURSE_LAYOUT


@pytest.mark.skipif(not COURSE_TESTER_DATA.is_file(), reason="course's testerData.npz absent")
def test_course_tester_data_has_same_layout_as_ours():
    ours = _layout(TEMPLATE_DIR / fixtures.TEMPLATE_DATA_NAME)

    assert _layout(COURSE_TESTER_DATA) == ours


def test_handout_linear_case_is_tester_data_with_flat_b(fresh, regenerated):
    with np.load(regenerated / "template" / fixtures.TEMPLATE_DATA_NAME) as tester_data:
        tester_arrays = {key: tester_data[key] for key in tester_data.files}
    case = fresh["linear"]["handout"]

    for name in ("W", "X", "dLdZ"):
        np.testing.assert_array_equal(case[name], tester_arrays[name], err_msg=name)
    np.testing.assert_array_equal(case["b"], tester_arrays["b"].ravel())


def test_tampered_fixture_is_reported_with_its_name(tmp_path):
    fixtures_dir, template_dir = tmp_path / "fixtures", tmp_path / "template"
    shutil.copytree(FIXTURES_DIR, fixtures_dir)
    template_dir.mkdir()
    shutil.copy2(TEMPLATE_DIR / fixtures.TEMPLATE_DATA_NAME, template_dir)
    with np.load(fixtures_dir / "linear.npz", allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["handout/dLdW"][0, 0] += 1e-9
    (fixtures_dir / "linear.npz").write_bytes(fixtures.npz_bytes(arrays))

    result = fixtures.check(fixtures_dir, template_dir)

    assert len(result.problems) == 1 and result.problems[0].endswith(
        "linear.npz: sha256 does not match manifest.json; run `grade fixtures regenerate`"
    )


def test_npz_bytes_are_readable_and_independent_of_time():
    arrays = {"case/X": np.arange(6.0).reshape(2, 3), "case/lr": np.array(0.1)}

    first, second = fixtures.npz_bytes(arrays), fixtures.npz_bytes(arrays)

    assert first == second
    with np.load(io.BytesIO(first), allow_pickle=False) as archive:
        assert [(key, archive[key].tolist()) for key in archive.files] == [
            ("case/X", [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]),
            ("case/lr", 0.1),
        ]


# ---- the oracle against plain NumPy ------------------------------------------------------


def _close(actual, expected, name):
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL, err_msg=name)


@pytest.mark.parametrize("case", ["handout", "n4_in16_out9"])
def test_oracle_linear_matches_numpy(fresh, case):
    fixture = fresh["linear"][case]
    X, W, b, dLdZ = fixture["X"], fixture["W"], fixture["b"], fixture["dLdZ"]

    _close(fixture["O"], X @ W + b, "O")
    _close(fixture["dLdA"], dLdZ @ W.T, "dLdA")
    _close(fixture["dLdW"], X.T @ dLdZ, "dLdW")
    _close(fixture["dLdb"], dLdZ.sum(axis=0), "dLdb")


@pytest.mark.parametrize("case", ["mse_handout", "mse_n3_q4"])
def test_oracle_mse_matches_numpy(fresh, case):
    fixture = fresh["loss"][case]
    O, Y = fixture["O"], fixture["Y"]
    N, q = O.shape

    _close(fixture["L"], np.sum((O - Y) ** 2) / (N * q), "L")
    _close(fixture["dLdO"], 2 * (O - Y) / (N * q), "dLdO")


def test_mse_handout_gradient_is_tester_data_dLdZ(fresh):
    np.testing.assert_array_equal(
        fresh["loss"]["mse_handout"]["dLdO"], fresh["linear"]["handout"]["dLdZ"]
    )


@pytest.mark.parametrize("case", ["ce_n8_c3", "ce_soft_n4_c6", "ce_large_n6_c5"])
def test_oracle_cross_entropy_matches_numpy_log_sum_exp(fresh, case):
    fixture = fresh["loss"][case]
    O, Y = fixture["O"], fixture["Y"]
    N = O.shape[0]

    shifted = O - O.max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    softmax = np.exp(log_softmax)

    _close(fixture["L"], -np.sum(Y * log_softmax) / N, "L")
    _close(fixture["dLdO"], (softmax - Y) / N, "dLdO")


NUMPY_ACTIVATIONS = {
    "identity": (lambda H: H, lambda H: np.ones_like(H)),
    "sigmoid": (
        lambda H: 1 / (1 + np.exp(-H)),
        lambda H: 1 / (1 + np.exp(-H)) * (1 - 1 / (1 + np.exp(-H))),
    ),
    "tanh": (np.tanh, lambda H: 1 - np.tanh(H) ** 2),
    "relu": (lambda H: np.maximum(H, 0), lambda H: (H > 0).astype(np.float64)),
}
"""kind -> (A(H), dA/dH(H)) in plain NumPy."""


@pytest.mark.parametrize("case", ["small", "grid", "extreme"])
@pytest.mark.parametrize("kind", list(NUMPY_ACTIVATIONS))
def test_oracle_activation_matches_numpy(fresh, kind, case):
    fixture = fresh["activation"][case]
    A, dAdH = NUMPY_ACTIVATIONS[kind]

    _close(fixture[f"{kind}/A"], A(fixture["H"]), "A")
    _close(fixture[f"{kind}/dAdH"], dAdH(fixture["H"]), "dAdH")


@pytest.mark.parametrize("case", ["single", "layers3"])
def test_oracle_sgd_step_matches_numpy(fresh, case):
    fixture = fresh["sgd"][case]
    lr = fixture["lr"]
    num_layers = len([key for key in fixture if key.endswith("/W")])

    for i in range(num_layers):
        _close(fixture[f"{i}/W_new"], fixture[f"{i}/W"] - lr * fixture[f"{i}/dLdW"], f"{i}/W")
        _close(fixture[f"{i}/b_new"], fixture[f"{i}/b"] - lr * fixture[f"{i}/dLdb"], f"{i}/b")


@pytest.mark.parametrize("case", ["mlp0_n5", "mlp1_n6", "mlp4_n2"])
def test_oracle_mlp_matches_numpy(fresh, case):
    fixture = fresh["mlp"][case]
    lr = fixture["lr"]
    num_layers = len([key for key in fixture if key.endswith("/W")])

    inputs, pre_activations, A = [], [], fixture["X"]
    for i in range(num_layers):
        inputs.append(A)
        Z = A @ fixture[f"{i}/W"] + fixture[f"{i}/b"]
        pre_activations.append(Z)
        A = np.maximum(Z, 0) if i < num_layers - 1 else Z
        _close(fixture[f"{i}/Z"], Z, f"{i}/Z")
        _close(fixture[f"{i}/A"], A, f"{i}/A")
    _close(fixture["A"], A, "A")

    dLdA = fixture["dLdA"]
    for i in reversed(range(num_layers)):
        is_hidden = i < num_layers - 1
        dLdZ = dLdA * (pre_activations[i] > 0) if is_hidden else dLdA
        dLdW, dLdb = inputs[i].T @ dLdZ, dLdZ.sum(axis=0)
        dLdA = dLdZ @ fixture[f"{i}/W"].T
        _close(fixture[f"{i}/dLdZ"], dLdZ, f"{i}/dLdZ")
        _close(fixture[f"{i}/dLdW"], dLdW, f"{i}/dLdW")
        _close(fixture[f"{i}/dLdb"], dLdb, f"{i}/dLdb")
        _close(fixture[f"{i}/W_new"], fixture[f"{i}/W"] - lr * dLdW, f"{i}/W_new")
        _close(fixture[f"{i}/b_new"], fixture[f"{i}/b"] - lr * dLdb, f"{i}/b_new")
    _close(fixture["dLdX"], dLdA, "dLdX")


@pytest.mark.parametrize("case", ["mlp1_n6", "mlp1_n1", "mlp4_n4", "mlp4_n2"])
def test_every_hidden_layer_has_active_and_inactive_relus(fresh, case):
    fixture = fresh["mlp"][case]
    num_layers = len([key for key in fixture if key.endswith("/W")])

    hidden_Z = [fixture[f"{i}/Z"] for i in range(num_layers - 1)]

    assert all((Z > 0).any() and (Z < 0).any() for Z in hidden_Z)
