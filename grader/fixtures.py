"""Frozen inputs and torch expectations: regenerate, verify and load `fixtures/`.

`regenerate` draws every input from one seed, asks `grader.oracle` (torch float64) for the
expected values and writes:

    fixtures/linear.npz, loss.npz, activation.npz, sgd.npz, mlp.npz
        keys "<case>/<name>", e.g. "n7_in3_out4/dLdW", "grid/sigmoid/A", "layers3/0/W_new"
    fixtures/manifest.json
        seed, numpy and torch versions, sha256 of every file, the cases and their shapes
    student_template/testerData.npz
        the course's format: W (10, 5), b (5, 1), X (5, 10), Y (5, 5), dLdZ (5, 5)

Each case draws from `numpy.random.default_rng([seed, zlib.crc32(case_name)])`, so adding a
case never changes the others. The npz files are written with fixed zip metadata, so the
same seed, NumPy and torch reproduce them bit for bit; `check` verifies exactly that.

Grading only calls `load`, which needs NumPy alone: torch is imported when fixtures are
generated or checked, never when a submission is graded.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import os
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from grader.errors import ConfigError, GraderError

logger = logging.getLogger(__name__)

DEFAULT_SEED = 11785
"""The seed of the committed fixtures."""

GENERATOR = "grader.fixtures"
"""Recorded in the manifest: the module that wrote the fixtures."""

FIXTURE_FILES = ("linear", "loss", "activation", "sgd", "mlp", "training")
"""Stems of the npz files in `fixtures/`, in the handout's order."""

MANIFEST_NAME = "manifest.json"
TEMPLATE_DATA_NAME = "testerData.npz"
TEMPLATE_DATA_KEY = "student_template/testerData.npz"
"""How the manifest lists the handout's data file, which lives outside `fixtures/`."""

CASE_RNG = "numpy.random.default_rng([seed, case seed]), case seed = zlib.crc32(case name)"
"""Recorded in the manifest: how each case's inputs were drawn."""

REGENERATE_COMMAND = "`grade fixtures regenerate`"

_ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
_ZIP_UNIX_SYSTEM = 3
_ZIP_FILE_MODE = 0o644 << 16


@dataclass(frozen=True)
class Manifest:
    """What `fixtures/manifest.json` records about one regeneration."""

    seed: int
    """The seed every case's RNG starts from."""
    numpy: str
    """NumPy version that drew the inputs."""
    torch: str
    """torch version that computed the expectations."""
    files: dict[str, str]
    """File name (relative to `fixtures/`, or TEMPLATE_DATA_KEY) -> sha256 hex digest."""
    cases: dict[str, dict[str, dict]]
    """File stem -> case -> {"seed": case seed, "shapes": {input: shape}, ...}."""
    generator: str = GENERATOR
    """The module that wrote the fixtures."""
    rng: str = CASE_RNG
    """How each case's inputs were drawn."""

    def to_json(self) -> str:
        """The manifest as written to disk: sorted keys, indent 2, trailing newline."""
        fields = {
            "seed": self.seed,
            "generator": self.generator,
            "rng": self.rng,
            "numpy": self.numpy,
            "torch": self.torch,
            "files": self.files,
            "cases": self.cases,
        }
        return json.dumps(fields, sort_keys=True, indent=2) + "\n"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of `check`: problems fail it, warnings only inform."""

    problems: list[str] = field(default_factory=list)
    """Sentences naming a file and the fix; any problem means the fixtures cannot be trusted."""
    warnings: list[str] = field(default_factory=list)
    """Sentences about conditions that may explain differences (e.g. another torch version)."""

    @property
    def ok(self) -> bool:
        """True when there is no problem."""
        return not self.problems


def default_fixtures_dir() -> Path:
    """$GRADER_FIXTURES if set, else the `fixtures/` folder next to the `grader/` package."""
    return _dir_from_env("GRADER_FIXTURES", "fixtures")


def default_template_dir() -> Path:
    """$GRADER_TEMPLATE if set, else the `student_template/` folder next to `grader/`."""
    return _dir_from_env("GRADER_TEMPLATE", "student_template")


def default_reference_dir() -> Path:
    """$GRADER_REFERENCE if set, else the `reference/` folder next to `grader/`."""
    return _dir_from_env("GRADER_REFERENCE", "reference")


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """An npz archive of `arrays`, in their order, with fixed zip metadata.

    Members are stored uncompressed as "<key>.npy" with a 1980-01-01 timestamp and mode 644,
    so equal arrays always give equal bytes; `np.load` reads the result. Raises ValueError
    for object arrays, which would need pickle.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for key, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(array, order="C"), allow_pickle=False)

            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = _ZIP_UNIX_SYSTEM
            info.external_attr = _ZIP_FILE_MODE
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def regenerate(fixtures_dir: Path, template_dir: Path, seed: int = DEFAULT_SEED) -> Manifest:
    """Draw every case from `seed`, compute its expectations with torch and write the files.

    Writes the five fixture files and manifest.json into fixtures_dir and testerData.npz into
    template_dir (both created if missing), replacing what is there. Nothing is written
    unless every case was computed. Raises ConfigError for a seed that is not an int >= 0.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"fixture seed {seed!r} is not an integer >= 0; pass --seed N")
    fixtures_dir, template_dir = Path(fixtures_dir), Path(template_dir)

    handout = _handout_data(seed)
    builders = {
        "linear": _linear_cases,
        "loss": _loss_cases,
        "activation": _activation_cases,
        "sgd": _sgd_cases,
        "mlp": _mlp_cases,
        "training": _training_cases,
    }
    fixture_files = {stem: build(seed, handout) for stem, build in builders.items()}
    contents = {f"{stem}.npz": npz_bytes(f.arrays) for stem, f in fixture_files.items()}
    contents[TEMPLATE_DATA_KEY] = npz_bytes(handout)

    for name, data in contents.items():
        _write_atomically(_file_path(name, fixtures_dir, template_dir), data)
    manifest = Manifest(
        seed=seed,
        numpy=np.__version__,
        torch=_oracle().torch_version(),
        files={name: hashlib.sha256(data).hexdigest() for name, data in contents.items()},
        cases={stem: f.cases for stem, f in fixture_files.items()},
    )
    _write_atomically(fixtures_dir / MANIFEST_NAME, manifest.to_json().encode())

    logger.info("wrote %d fixture files from seed %d", len(contents), seed)
    return manifest


class Cases(dict):
    """file stem -> case -> key -> array, and in `info` each case's manifest entry."""

    info: dict[str, dict[str, dict]]
    """file stem -> case -> {"seed": ..., "shapes": {...}} from manifest.json."""

    def describe(self, stem: str, case: str) -> str:
        """The case as a student may see it: seed and input shapes, no expected values."""
        entry = self.info.get(stem, {}).get(case, {})
        shapes = entry.get("shapes", {})
        parts = [f"seed {entry['seed']}"] if "seed" in entry else []
        parts += [
            f"{name} {tuple(shape)}"
            for name, shape in shapes.items()
            if shape and "/" not in name and name != "sizes"
        ]
        layers = {name.split("/")[0] for name in shapes if "/" in name}
        if layers:
            parts.append(f"{len(layers)} layer{'s' if len(layers) > 1 else ''}")
        return ", ".join(parts)


def load(fixtures_dir: Path) -> Cases:
    """Every fixture as file stem -> case -> key -> array (with the manifest's case info).

    The key is what follows "<case>/" in the npz, e.g. "X", "sigmoid/A" or "0/W". Arrays are
    read with allow_pickle=False. Raises ConfigError naming the file when one is missing or
    unreadable.
    """
    fixtures = Cases()
    for stem in FIXTURE_FILES:
        path = Path(fixtures_dir) / f"{stem}.npz"
        if not path.is_file():
            raise ConfigError(f"{_shown(path)}: missing; run {REGENERATE_COMMAND}")
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {key: archive[key] for key in archive.files}
        except (OSError, ValueError, zipfile.BadZipFile) as error:
            raise ConfigError(
                f"{_shown(path)}: not a readable npz ({error}); run {REGENERATE_COMMAND}"
            ) from error

        cases: dict[str, dict[str, np.ndarray]] = {}
        for key, array in arrays.items():
            case, _, name = key.partition("/")
            if not name:
                raise ConfigError(
                    f"{_shown(path)}: key {key!r} is not '<case>/<name>'; run {REGENERATE_COMMAND}"
                )
            cases.setdefault(case, {})[name] = array
        fixtures[stem] = cases
    fixtures.info = load_manifest(fixtures_dir).cases
    return fixtures


def load_manifest(fixtures_dir: Path) -> Manifest:
    """Read fixtures_dir/manifest.json; raises ConfigError if it is missing or malformed."""
    path = Path(fixtures_dir) / MANIFEST_NAME
    if not path.is_file():
        raise ConfigError(f"{_shown(path)}: missing; run {REGENERATE_COMMAND}")
    try:
        fields = json.loads(path.read_text(encoding="utf-8"))
        return Manifest(
            seed=int(fields["seed"]),
            numpy=str(fields["numpy"]),
            torch=str(fields["torch"]),
            files=dict(fields["files"]),
            cases=dict(fields["cases"]),
            generator=str(fields.get("generator", GENERATOR)),
            rng=str(fields.get("rng", CASE_RNG)),
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(
            f"{_shown(path)}: not a fixtures manifest ({error!r}); run {REGENERATE_COMMAND}"
        ) from error


def check(fixtures_dir: Path, template_dir: Path, reference_dir: Path | None = None) -> CheckResult:
    """Verify the fixtures: hashes, regeneration, versions, and the reference's full marks.

    A problem is a file whose sha256 differs from the manifest, a missing or unlisted file,
    a file that regenerating from the manifest's seed does not reproduce, or a rubric item on
    which the reference (reference_dir, default `default_reference_dir()`) loses points when
    the real grader grades it. A NumPy or torch version other than the manifest's is a
    warning, since it may explain such a difference; so is a missing reference (the
    Gradescope image has none), which then goes ungraded.
    """
    fixtures_dir, template_dir = Path(fixtures_dir), Path(template_dir)
    reference_dir = Path(reference_dir or default_reference_dir())
    try:
        manifest = load_manifest(fixtures_dir)
    except ConfigError as error:
        return CheckResult(problems=[str(error)])
    problems = _integrity_problems(manifest, fixtures_dir, template_dir)
    warnings = _version_warnings(manifest, fixtures_dir)

    with tempfile.TemporaryDirectory(prefix="grader-fixtures-") as scratch:
        fresh = regenerate(Path(scratch) / "fixtures", Path(scratch) / "template", manifest.seed)

    for name in sorted(set(manifest.files) | set(fresh.files)):
        if manifest.files.get(name) != fresh.files.get(name):
            shown = _shown(_file_path(name, fixtures_dir, template_dir))
            problems.append(
                f"{shown}: regenerating from seed {manifest.seed} does not reproduce it bit "
                f"for bit; run {REGENERATE_COMMAND} and commit the result"
            )
    if manifest.cases != fresh.cases:
        problems.append(
            f"{_shown(fixtures_dir / MANIFEST_NAME)}: its cases differ from what the generator "
            f"writes; run {REGENERATE_COMMAND} and commit the result"
        )

    if reference_dir.is_dir():
        problems += _reference_problems(fixtures_dir, reference_dir)
    else:
        warnings.append(
            f"{_shown(reference_dir)}: no reference solution here, so it was not graded with "
            "these fixtures; pass --reference-dir"
        )
    return CheckResult(problems=problems, warnings=warnings)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m grader.fixtures regenerate|check`; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m grader.fixtures", description="Regenerate or verify the fixtures."
    )
    parser.add_argument("command", choices=["regenerate", "check"])
    parser.add_argument("--fixtures-dir", type=Path, default=None)
    parser.add_argument("--template-dir", type=Path, default=None)
    parser.add_argument("--reference-dir", type=Path, default=None, help="check only")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="regenerate only")
    args = parser.parse_args(argv)
    fixtures_dir = args.fixtures_dir or default_fixtures_dir()
    template_dir = args.template_dir or default_template_dir()

    try:
        if args.command == "regenerate":
            manifest = regenerate(fixtures_dir, template_dir, args.seed)
            print(f"wrote {len(manifest.files)} files from seed {manifest.seed}")
            return 0
        result = check(fixtures_dir, template_dir, args.reference_dir)
    except GraderError as error:
        print(f"Error: {error}", file=sys.stderr)
        return error.exit_code

    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for problem in result.problems:
        print(f"problem: {problem}", file=sys.stderr)
    print("fixtures OK" if result.ok else f"{len(result.problems)} problem(s)")
    return 0 if result.ok else 1


# ---- the cases ---------------------------------------------------------------------------


class _FixtureFile:
    """The arrays and manifest entries of one fixture file, filled case by case."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.cases: dict[str, dict] = {}

    def add(self, case: str, inputs: dict, expected: dict, **info) -> None:
        """Store inputs then expectations under "<case>/", and the case's manifest entry."""
        for name, value in {**inputs, **expected}.items():
            self.arrays[f"{case}/{name}"] = np.asarray(value)
        shapes = {name: list(np.shape(value)) for name, value in inputs.items()}
        self.cases[case] = {"seed": _case_seed(case), "shapes": shapes, **info}


class _CrossEntropyCase(NamedTuple):
    N: int
    C: int
    soft_targets: bool
    logit_scale: float


class _MLPCase(NamedTuple):
    model: str
    num_inputs: int
    num_outputs: int
    num_hiddens: int
    N: int
    lr: float


_LINEAR_CASES = {"n7_in3_out4": (7, 3, 4), "n1_in6_out2": (1, 6, 2), "n4_in16_out9": (4, 16, 9)}
"""case -> (N, in, out); non-square so that a transposed W or dLdW cannot pass."""

_MSE_CASES = {"mse_n3_q4": (3, 4), "mse_n1_q6": (1, 6)}
"""case -> (N, q)."""

_CROSS_ENTROPY_CASES = {
    "ce_n5_c5": _CrossEntropyCase(N=5, C=5, soft_targets=False, logit_scale=1.0),
    "ce_n8_c3": _CrossEntropyCase(N=8, C=3, soft_targets=False, logit_scale=1.0),
    "ce_n1_c4": _CrossEntropyCase(N=1, C=4, soft_targets=False, logit_scale=1.0),
    "ce_soft_n4_c6": _CrossEntropyCase(N=4, C=6, soft_targets=True, logit_scale=1.0),
    "ce_large_n6_c5": _CrossEntropyCase(N=6, C=5, soft_targets=False, logit_scale=1e3),
}

_EXTREME_H = np.array(
    [[50.0, -50.0, 30.0, -30.0], [20.0, -20.0, 0.5, -0.5], [1e-3, -1e-3, 5.0, -5.0]]
)

_SGD_CASES = {"single": ((4, 3), 0.05), "layers3": ((5, 4, 4, 2), 0.1)}
"""case -> (layer widths, lr); "single" is one Linear that SGD updates directly."""

_MLP_CASES = {
    "mlp0_n5": _MLPCase("MLP0", num_inputs=10, num_outputs=5, num_hiddens=0, N=5, lr=0.1),
    "mlp0_n1": _MLPCase("MLP0", num_inputs=3, num_outputs=2, num_hiddens=0, N=1, lr=0.05),
    "mlp1_n6": _MLPCase("MLP1", num_inputs=8, num_outputs=3, num_hiddens=6, N=6, lr=0.1),
    "mlp1_n1": _MLPCase("MLP1", num_inputs=4, num_outputs=5, num_hiddens=3, N=1, lr=0.2),
    "mlp4_n4": _MLPCase("MLP4", num_inputs=5, num_outputs=4, num_hiddens=7, N=4, lr=0.1),
    "mlp4_n2": _MLPCase("MLP4", num_inputs=3, num_outputs=2, num_hiddens=6, N=2, lr=0.05),
}

_HIDDEN_LAYERS = {"MLP0": 0, "MLP1": 1, "MLP4": 4}

_MAX_MLP_DRAWS = 100
"""Redraws allowed until every hidden layer has both active and inactive ReLUs."""


def _handout_data(seed: int) -> dict[str, np.ndarray]:
    """testerData.npz's arrays, drawn the way the course's file was made.

    W (10, 5), b (5, 1) and X (5, 10) are uniform in [0, 1); Y (5, 5) is the layer's output
    X W + b^T plus N(0, 0.5^2) noise; dLdZ (5, 5) is the MSE gradient 2 (O - Y) / (N q) of
    that output, as in the course's file.
    """
    rng = _rng(seed, "handout")
    W = rng.random((10, 5))
    b = rng.random((5, 1))
    X = rng.random((5, 10))

    O = X @ W + b.T
    Y = O + rng.normal(0.0, 0.5, size=O.shape)
    dLdZ = _oracle().mse(O, Y)["dLdO"]

    return {"W": W, "b": b, "X": X, "Y": Y, "dLdZ": dLdZ}


def _linear_cases(seed: int, handout: dict[str, np.ndarray]) -> _FixtureFile:
    """The handout's layer (b flattened to (5,)) and random non-square layers."""
    oracle = _oracle()
    cases = {
        "handout": {
            "X": handout["X"],
            "W": handout["W"],
            "b": handout["b"].ravel(),
            "dLdZ": handout["dLdZ"],
        }
    }
    for case, (N, n_in, n_out) in _LINEAR_CASES.items():
        rng = _rng(seed, case)
        cases[case] = {
            "X": rng.normal(size=(N, n_in)),
            "W": rng.normal(0.0, 0.5, size=(n_in, n_out)),
            "b": rng.normal(size=n_out),
            "dLdZ": rng.normal(size=(N, n_out)),
        }

    fixture = _FixtureFile()
    for case, inputs in cases.items():
        fixture.add(case, inputs, oracle.linear(**inputs))
    return fixture


def _loss_cases(seed: int, handout: dict[str, np.ndarray]) -> _FixtureFile:
    """MSE on the handout's layer output and random cases; cross-entropy incl. 1e3 logits."""
    oracle = _oracle()
    fixture = _FixtureFile()

    O = handout["X"] @ handout["W"] + handout["b"].T
    mse_cases = {"mse_handout": {"O": O, "Y": handout["Y"]}}
    for case, (N, q) in _MSE_CASES.items():
        rng = _rng(seed, case)
        mse_cases[case] = {"O": rng.normal(size=(N, q)), "Y": rng.normal(size=(N, q))}
    for case, inputs in mse_cases.items():
        fixture.add(case, inputs, oracle.mse(**inputs), loss="MSELoss")

    for case, spec in _CROSS_ENTROPY_CASES.items():
        rng = _rng(seed, case)
        O = spec.logit_scale * rng.normal(size=(spec.N, spec.C))
        if spec.soft_targets:
            weights = rng.random((spec.N, spec.C))
            Y = weights / weights.sum(axis=1, keepdims=True)
        else:
            Y = np.eye(spec.C)[rng.integers(spec.C, size=spec.N)]
        fixture.add(case, {"O": O, "Y": Y}, oracle.cross_entropy(O, Y), loss="CrossEntropyLoss")
    return fixture


def _activation_cases(seed: int, handout: dict[str, np.ndarray]) -> _FixtureFile:
    """Every activation on small normals, a -50..50 grid and extreme values, never 0."""
    oracle = _oracle()
    inputs = {
        "small": _rng(seed, "small").standard_normal((5, 5)),
        # An even number of evenly spaced points symmetric about 0 skips 0 itself.
        "grid": np.linspace(-50.0, 50.0, 42).reshape(6, 7),
        "extreme": _EXTREME_H,
        # A dense line for the report's plots of A and dA/dH; again no exact 0.
        "curve": np.linspace(-6.0, 6.0, 240).reshape(1, 240),
    }

    fixture = _FixtureFile()
    for case, H in inputs.items():
        expected = {}
        for kind in oracle.ACTIVATIONS:
            for name, array in oracle.activation(kind, H).items():
                expected[f"{kind}/{name}"] = array
        fixture.add(case, {"H": H}, expected)
    return fixture


def _sgd_cases(seed: int, handout: dict[str, np.ndarray]) -> _FixtureFile:
    """One SGD step on a single Linear and on three layers, with two learning rates."""
    oracle = _oracle()
    fixture = _FixtureFile()
    for case, (widths, lr) in _SGD_CASES.items():
        rng = _rng(seed, case)
        layers = [
            {
                "W": rng.normal(0.0, 0.5, size=(n_in, n_out)),
                "b": rng.normal(size=n_out),
                "dLdW": rng.normal(size=(n_in, n_out)),
                "dLdb": rng.normal(size=n_out),
            }
            for n_in, n_out in zip(widths[:-1], widths[1:], strict=True)
        ]

        inputs = {"lr": np.array(lr)}
        expected = {}
        for i, (layer, updated) in enumerate(zip(layers, oracle.sgd_step(layers, lr), strict=True)):
            inputs.update({f"{i}/{name}": array for name, array in layer.items()})
            expected.update({f"{i}/{name}": array for name, array in updated.items()})
        fixture.add(case, inputs, expected, lr=lr)
    return fixture


def _mlp_cases(seed: int, handout: dict[str, np.ndarray]) -> _FixtureFile:
    """Forward, backward and one SGD step of MLP0, MLP1 and MLP4 at two sizes each."""
    fixture = _FixtureFile()
    for case, spec in _MLP_CASES.items():
        inputs, expected = _mlp_case(_rng(seed, case), spec)
        fixture.add(case, inputs, expected, model=spec.model, lr=spec.lr)
    return fixture


def _mlp_case(rng: np.random.Generator, spec: _MLPCase) -> tuple[dict, dict]:
    """Draw an MLP case whose every hidden layer has positive and negative pre-activations.

    Weights are N(0, 0.5^2) so that ReLUs split between active and inactive; the draw is
    repeated (deterministically, from the same rng) until that holds.
    """
    oracle = _oracle()
    num_hidden_layers = _HIDDEN_LAYERS[spec.model]
    widths = [spec.num_inputs] + [spec.num_hiddens] * num_hidden_layers + [spec.num_outputs]
    sizes = np.array([spec.num_inputs, spec.num_outputs, spec.num_hiddens], dtype=np.int64)

    for _ in range(_MAX_MLP_DRAWS):
        weights = [
            (rng.normal(0.0, 0.5, size=(n_in, n_out)), rng.normal(0.0, 0.5, size=n_out))
            for n_in, n_out in zip(widths[:-1], widths[1:], strict=True)
        ]
        X = rng.normal(size=(spec.N, spec.num_inputs))
        dLdA = rng.normal(size=(spec.N, spec.num_outputs))
        expected = oracle.mlp(sizes, weights, X, dLdA, spec.lr)

        hidden_Z = [expected[f"{i}/Z"] for i in range(num_hidden_layers)]
        if all((Z > 0).any() and (Z < 0).any() for Z in hidden_Z):
            break
    else:
        raise RuntimeError(f"no {spec.model} draw with mixed ReLUs in {_MAX_MLP_DRAWS} tries")

    inputs = {"sizes": sizes, "lr": np.array(spec.lr), "X": X, "dLdA": dLdA}
    for i, (W, b) in enumerate(weights):
        inputs[f"{i}/W"] = W
        inputs[f"{i}/b"] = b
    return inputs, expected


class _TrainingCase(NamedTuple):
    loss: str
    N: int
    num_inputs: int
    num_outputs: int
    num_hiddens: int
    lr: float
    steps: int


_TRAINING_CASES = {
    "regression": _TrainingCase("mse", N=64, num_inputs=3, num_outputs=2, num_hiddens=16,
                                lr=0.05, steps=40),
    "classification": _TrainingCase("cross_entropy", N=90, num_inputs=2, num_outputs=3,
                                    num_hiddens=16, lr=0.5, steps=60),
}  # fmt: skip
"""Item 6's problems: MLP1 trained full-batch with the student's own loss and SGD."""


def _training_cases(seed: int, handout: dict[str, np.ndarray]) -> _FixtureFile:
    """A small regression and a small 3-class classification problem, and torch's run."""
    oracle = _oracle()
    fixture = _FixtureFile()
    for case, spec in _TRAINING_CASES.items():
        rng = _rng(seed, case)
        if spec.loss == "mse":
            X = rng.normal(size=(spec.N, spec.num_inputs))
            mixing = rng.normal(size=(spec.num_inputs, spec.num_outputs))
            Y = np.sin(X @ mixing) + 0.05 * rng.normal(size=(spec.N, spec.num_outputs))
        else:
            labels = np.arange(spec.N) % spec.num_outputs
            centres = 2.0 * rng.normal(size=(spec.num_outputs, spec.num_inputs))
            X = centres[labels] + 0.7 * rng.normal(size=(spec.N, spec.num_inputs))
            Y = np.eye(spec.num_outputs)[labels]
        widths = [spec.num_inputs, spec.num_hiddens, spec.num_outputs]
        weights = [
            (rng.normal(0.0, 0.3, size=(n_in, n_out)), np.zeros(n_out))
            for n_in, n_out in zip(widths[:-1], widths[1:], strict=True)
        ]
        expected = oracle.train(weights, X, Y, spec.loss, spec.lr, spec.steps)

        sizes = np.array([spec.num_inputs, spec.num_outputs, spec.num_hiddens], dtype=np.int64)
        inputs = {"sizes": sizes, "lr": np.array(spec.lr), "steps": np.array(spec.steps)}
        inputs.update({"X": X, "Y": Y})
        for i, (W, b) in enumerate(weights):
            inputs.update({f"{i}/W": W, f"{i}/b": b})
        fixture.add(case, inputs, expected, loss=spec.loss, lr=spec.lr, steps=spec.steps)
    return fixture


# ---- helpers -----------------------------------------------------------------------------


def _oracle():
    """grader.oracle, imported on first use so that grading never imports torch."""
    from grader import oracle

    return oracle


def _case_seed(case: str) -> int:
    """The second entry of a case's seed sequence: a stable hash of its name."""
    return zlib.crc32(case.encode())


def _rng(seed: int, case: str) -> np.random.Generator:
    """The RNG of one case, independent of every other case."""
    return np.random.default_rng([seed, _case_seed(case)])


def _reference_problems(fixtures_dir: Path, reference_dir: Path) -> list[str]:
    """The rubric items on which the reference, graded with these fixtures, loses points."""
    from grader import rubric, runner
    from grader.submission import locate

    try:
        cases = load(fixtures_dir)
    except ConfigError:
        return []  # the integrity check has reported the unreadable file already
    submission = locate(reference_dir)
    try:
        result = runner.grade(submission, rubric.load(), cases)
    finally:
        submission.cleanup()

    problems = [f"{_shown(reference_dir)}: {problem}" for problem in result.problems]
    problems += [
        f"{_shown(reference_dir)}: the reference scores {item.score:g} of {item.item.points:g} "
        f"on item {item.item.id} ({item.reason}); fix the reference or the rubric's tolerances"
        for item in result.items
        if item.passed != item.total
    ]
    return problems


def _integrity_problems(manifest: Manifest, fixtures_dir: Path, template_dir: Path) -> list[str]:
    """Files missing, differing from their manifest hash, or absent from the manifest."""
    problems = []
    expected_names = {f"{stem}.npz" for stem in FIXTURE_FILES} | {TEMPLATE_DATA_KEY}
    for name in sorted(expected_names - set(manifest.files)):
        problems.append(
            f"{_shown(fixtures_dir / MANIFEST_NAME)}: does not list {name}; "
            f"run {REGENERATE_COMMAND}"
        )

    for name, digest in sorted(manifest.files.items()):
        path = _file_path(name, fixtures_dir, template_dir)
        if not path.is_file():
            problems.append(f"{_shown(path)}: missing; run {REGENERATE_COMMAND}")
        elif _sha256(path) != digest:
            problems.append(
                f"{_shown(path)}: sha256 does not match manifest.json; run {REGENERATE_COMMAND}"
            )

    for path in sorted(fixtures_dir.glob("*.npz")):
        if path.name not in manifest.files:
            problems.append(
                f"{_shown(path)}: not listed in manifest.json; delete it or run "
                f"{REGENERATE_COMMAND}"
            )
    return problems


def _version_warnings(manifest: Manifest, fixtures_dir: Path) -> list[str]:
    """Warnings for a NumPy or torch version other than the one that made the fixtures."""
    installed = {"numpy": np.__version__, "torch": _oracle().torch_version()}
    recorded = {"numpy": manifest.numpy, "torch": manifest.torch}
    return [
        f"{_shown(fixtures_dir / MANIFEST_NAME)}: fixtures were made with {package} "
        f"{recorded[package]} but {installed[package]} is installed; results may differ "
        "in the last bits"
        for package in ("numpy", "torch")
        if recorded[package] != installed[package]
    ]


def _file_path(name: str, fixtures_dir: Path, template_dir: Path) -> Path:
    """Where a manifest file name lives on disk."""
    if name == TEMPLATE_DATA_KEY:
        return template_dir / TEMPLATE_DATA_NAME
    return fixtures_dir / name


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_atomically(path: Path, data: bytes) -> None:
    """Replace path with data, never leaving a half-written file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)
    logger.debug("wrote %s (%d bytes)", path, len(data))


def _shown(path: Path) -> str:
    """path relative to the working directory when it is below it, else as given."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _dir_from_env(variable: str, folder: str) -> Path:
    value = os.environ.get(variable)
    if value:
        return Path(value)
    return Path(__file__).resolve().parent.parent / folder


if __name__ == "__main__":
    sys.exit(main())
