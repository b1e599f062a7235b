"""Items 5a-5c: the wiring of the student's MLPs, run around trusted stand-in components.

The student's MLP is built by its own __init__; its `layers` and `f` are then replaced by
stand-ins with the case's weights, whose arithmetic the grader does. What is graded is
the MLP's own code: its structure, the order of layers and activations in forward, and
the chain rule in backward. A bug in Linear or in an activation costs nothing here.
"""

import numpy as np
import pytest
from conftest import cases_with

from grader.compare import CheckFailed, check

SUBMISSION_MODULE = "models.mlp"
FIXTURE = "mlp"
ACTIVATION_KINDS = ("identity", "sigmoid", "tanh", "relu")


def _gradient_flow_notes(session, data) -> list[str]:
    """Find the first layer, from the output, whose backward received a wrong gradient.

    The stand-ins recorded every `linear.backward` call with the gradient it was given;
    the layer is recognised by its weights. A gradient equal to torch's gradient with
    respect to the layer's *activation output* means the activation derivative was skipped.
    """
    n_layers = _n_layers(data)
    received = {}
    for call in session.stand_ins.of("linear.backward"):
        dLdO, _, W, _ = call.inputs
        for i in range(n_layers):
            if W.shape == data[f"{i}/W"].shape and np.array_equal(W, data[f"{i}/W"]):
                received.setdefault(i, dLdO)
    for i in reversed(range(n_layers)):
        expected = data[f"{i}/dLdZ"]
        if i not in received:
            return [f"layers[{i}].backward was never called"]
        got = received[i]
        if got.shape == expected.shape and np.allclose(got, expected, rtol=1e-6, atol=1e-9):
            continue
        after_activation = (
            data["dLdA"] if i == n_layers - 1 else data[f"{i + 1}/dLdZ"] @ data[f"{i + 1}/W"].T
        )
        if got.shape == after_activation.shape and np.allclose(got, after_activation, rtol=1e-6):
            return [f"layers[{i}].backward got dL/dA without the f[{i}].backward() factor"]
        return [f"layers[{i}] is the first layer (from the output) given a wrong gradient"]
    return []


def _model_name(case: str) -> str:
    return case.split("_")[0].upper()


def _n_layers(data) -> int:
    return len({key.split("/")[0] for key in data if key[0].isdigit()})


def _build(session, data, case):
    num_inputs, num_outputs, num_hiddens = (int(size) for size in data["sizes"])
    name = _model_name(case)
    args = (num_inputs, num_outputs) if name == "MLP0" else (num_inputs, num_outputs, num_hiddens)
    return session.new(f"models.{name}", f"models.mlp.{name}", args=args, stand_ins=True)


def _structure_problems(model, data) -> list[str]:
    """How the MLP's own __init__ differs from the handout: layer sizes, activation kinds."""
    n_layers = _n_layers(data)
    layers, activations = model.describe("layers"), model.describe("f")
    found_layers = len(layers.get("items", []))
    if found_layers != n_layers:
        return [f"self.layers holds {found_layers} layers, expected {n_layers}"]
    problems = []
    for i, entry in enumerate(layers["items"]):
        expected = data[f"{i}/W"].shape
        if entry["type"] == "LinearStandIn":
            size = tuple(int(n) for n in model.get(f"layers.{i}.size"))
            made = f"Linear{size}"
        else:
            size = getattr(model.get(f"layers.{i}.W"), "shape", None)
            made = f"a layer whose W has shape {size}"
        if size != expected:
            problems.append(f"layers[{i}] is {made}, expected Linear{expected}")

    kinds = [_kind(entry) for entry in activations.get("items", [])]
    wanted = ["relu"] * (n_layers - 1) + ["identity"]
    if len(kinds) != n_layers:
        problems.append(f"self.f holds {len(kinds)} activations, expected {n_layers}")
    else:
        for i, (kind, want) in enumerate(zip(kinds, wanted, strict=True)):
            if kind != want:
                problems.append(f"f[{i}] is {kind}, expected {want}")
    return problems


def _kind(entry: dict) -> str:
    """An activation's kind: the stand-in's own, or the student's class name."""
    return entry.get("kind") or entry["type"].lower()


def _install_stand_ins(session, representation, model, data):
    """Give every layer the case's weights; any component not yet a stand-in becomes one."""
    n_layers = _n_layers(data)
    layers = model.describe("layers").get("items", [])
    if len(layers) != n_layers:
        raise CheckFailed(
            f"cannot run the model: self.layers holds {len(layers)} layers, expected {n_layers}"
        )
    if any(entry["type"] != "LinearStandIn" for entry in layers):
        model.set("layers", [session.stand_in("linear") for _ in range(n_layers)])
    stand_ins = [model.get(f"layers.{i}") for i in range(n_layers)]
    for i, layer in enumerate(stand_ins):
        layer.set("W", data[f"{i}/W"].copy())
        layer.set("b", representation.b(data[f"{i}/b"]))
        layer.set("dLdW", None)
        layer.set("dLdb", None)

    activations = model.describe("f").get("items", [])
    if any(entry["type"] != "ActivationStandIn" for entry in activations):
        replaced = [
            session.stand_in(_kind(entry))
            if _kind(entry) in ACTIVATION_KINDS
            else model.get(f"f.{i}")
            for i, entry in enumerate(activations)
        ]
        model.set("f", replaced)
    return stand_ins


def _forward(session, representation, data, case):
    model = _build(session, data, case)
    layers = _install_stand_ins(session, representation, model, data)
    calls_before = len(session.stand_ins.of("linear.forward"))
    A = model.call("forward", data["X"])
    if len(session.stand_ins.of("linear.forward")) == calls_before:
        raise CheckFailed(
            f"{_model_name(case)}.forward did not call the layers in self.layers; "
            "the grader checks the MLP through self.layers and self.f"
        )
    return model, layers, A


@pytest.mark.item("5a")
@cases_with("mlp0")
def test_mlp0(session, representation, data, case, ctx, item, part):
    _check(session, representation, data, case, ctx, item, part)


@pytest.mark.item("5b")
@cases_with("mlp1")
def test_mlp1(session, representation, data, case, ctx, item, part):
    _check(session, representation, data, case, ctx, item, part)


@pytest.mark.item("5c")
@cases_with("mlp4")
def test_mlp4(session, representation, data, case, ctx, item, part):
    _check(session, representation, data, case, ctx, item, part)


@pytest.fixture(params=["structure", "forward", "backward", "step"])
def part(request):
    return request.param


def _check(session, representation, data, case, ctx, item, part):
    name = _model_name(case)
    if part == "structure":
        problems = _structure_problems(_build(session, data, case), data)
        if problems:
            raise CheckFailed(f"{name} ({ctx.label}): " + "; ".join(problems))
        return

    model, layers, A = _forward(session, representation, data, case)
    ctx.sizes = {"N": data["X"].shape[0]}
    if part == "forward":
        check(f"{name}.forward(X)", A, data["A"], ctx, item)
        return

    model.call("backward", data["dLdA"])
    ctx.notes += _gradient_flow_notes(session, data)
    lr = float(data["lr"])
    for i, layer in enumerate(layers):
        dLdW, dLdb = layer.get("dLdW"), layer.get("dLdb")
        if not isinstance(dLdW, np.ndarray):
            raise CheckFailed(
                f"{name}.backward ({ctx.label}): layers[{i}].backward was never called"
            )
        if part == "backward":
            check(f"layers[{i}].dLdW after {name}.backward", dLdW, data[f"{i}/dLdW"], ctx, item)
            check(
                f"layers[{i}].dLdb after {name}.backward",
                dLdb,
                data[f"{i}/dLdb"],
                ctx,
                item,
                vector=True,
            )
        else:
            ctx.baseline = data[f"{i}/W"]
            W_new = data[f"{i}/W"] - lr * dLdW
            check(f"layers[{i}].W after a step of lr={lr:g}", W_new, data[f"{i}/W_new"], ctx, item)
