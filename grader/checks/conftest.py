"""Fixtures shared by the rubric checks (the grader's plugin provides `session` and `cases`)."""

from dataclasses import dataclass

import numpy as np
import pytest

from grader.compare import Context
from grader.session import StudentError, WorkerLost


def pytest_configure(config):
    config.addinivalue_line("markers", "item(id): the rubric item a check belongs to")


@pytest.fixture(scope="session")
def session(request):
    """The grading session: the submission's worker, reached only through the wire."""
    return request.config.grading.grading_session


@dataclass(frozen=True)
class Representation:
    """How the student's own Linear stores its weights, its bias and the bias gradient."""

    b_layout: str
    """"flat" (h,), "column" (h, 1) or "row" (1, h), from the student's __init__."""
    dLdb_layout: str
    """The same, for dLdb after the student's own backward."""
    W_transposed: bool = False
    """W (and so dLdW) kept as (C_out, C_in), torch's layout, consistently in __init__ and
    forward. The handout asks for (C_in, C_out), so item 1a says so; the other items
    then use the student's layout, so that this one choice is not paid for three times."""

    def W(self, values: np.ndarray) -> np.ndarray:
        """W or dLdW, (C_in, C_out), in the student's layout."""
        return values.T.copy() if self.W_transposed else values.copy()

    def b(self, values: np.ndarray) -> np.ndarray:
        return _arrange(values, self.b_layout)

    def dLdb(self, values: np.ndarray) -> np.ndarray:
        return _arrange(values, self.dLdb_layout)


def _arrange(values: np.ndarray, layout: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    return {"flat": values, "column": values[:, None], "row": values[None, :]}[layout]


def _layout(array, size: int) -> str:
    shape = getattr(array, "shape", None)
    return {(size, 1): "column", (1, size): "row"}.get(shape, "flat")


@pytest.fixture(scope="session")
def representation(session) -> Representation:
    """Learn the layouts from the student's own Linear (the handout's where it cannot tell).

    A Linear(3, 4) shows how b is kept; its forward and backward on a batch of two show how
    dLdb is kept, and whether a W of shape (4, 3) really is used as (C_out, C_in).
    """
    b_layout = dLdb_layout = "flat"
    W_transposed = False
    try:
        layer = session.new(*LINEAR, args=(3, 4))
        b_layout = _layout(layer.get("b"), 4)
        if getattr(layer.get("W"), "shape", None) == (4, 3):
            layer.set("W", np.full((4, 3), 0.5))
            W_transposed = getattr(layer.call("forward", np.ones((2, 3))), "shape", None) == (2, 4)
    except (StudentError, WorkerLost):
        W_transposed = False
    try:
        layer = session.new(*LINEAR, args=(3, 4))
        layer.call("forward", np.ones((2, 3)))
        layer.call("backward", np.ones((2, 4)))
        dLdb_layout = _layout(layer.get("dLdb"), 4)
    except (StudentError, WorkerLost):
        dLdb_layout = b_layout
    return Representation(b_layout, dLdb_layout, W_transposed)


LINEAR = ("mytorch.nn.Linear", "mytorch.nn.linear.Linear")


@pytest.fixture(autouse=True)
def _submission_module(request, session):
    """Fail a check at once, with the file and line, when the module it needs did not import."""
    module = getattr(request.module, "SUBMISSION_MODULE", None)
    if module is None:
        return
    status = session.import_status()
    package = module.split(".")[0]
    module_status, package_status = status.get(module, {}), status.get(package, {})
    if module_status.get("ok"):
        return
    error = module_status.get("error") or {}
    missing_file = error.get("type") == "ModuleNotFoundError" and module in error.get("message", "")
    if package_status.get("ok") and (not error or missing_file):
        return  # the classes may live elsewhere in the package: resolving them will tell
    error = error or package_status.get("error") or {}
    path = module.replace(".", "/") + ".py"
    where = error.get("where") or path
    pytest.fail(
        f"{path} could not be imported: {error.get('type', 'Error')}: "
        f"{error.get('message', '')} (at {where})",
        pytrace=False,
    )


@pytest.fixture
def ctx(request, case) -> Context:
    """A fresh diagnosis context for the current case (its seed and shapes filled in)."""
    cases = request.config.grading.cases
    return Context(case=case, description=cases.describe(request.module.FIXTURE, case))


def pytest_generate_tests(metafunc):
    """Parametrize every check that takes `case` over its fixture file's cases."""
    family = getattr(metafunc.module, "FIXTURE", None)
    if family is None or "case" not in metafunc.fixturenames:
        return
    grading = metafunc.config.grading
    names = list(grading.cases[family])
    prefix = getattr(metafunc.function, "case_prefix", None)
    if prefix:
        names = [name for name in names if name.startswith(prefix)]
    metafunc.parametrize("case", names)


def cases_with(prefix: str):
    """Restrict a check to the cases whose names start with `prefix` ("mse", "mlp1", ...)."""

    def mark(function):
        function.case_prefix = prefix
        return function

    return mark


@pytest.fixture
def data(request, case):
    """The arrays of the current case: inputs and expectations (never sent to the worker)."""
    grading = request.config.grading
    return grading.cases[request.module.FIXTURE][case]


@pytest.fixture
def record(request):
    """Keep a value for the reports: record(key, value) under the check's item."""
    item_id = request.node.get_closest_marker("item").args[0]
    return lambda key, value: request.config.grading.record(item_id, key, value)


@pytest.fixture
def item(request):
    """The rubric item of the current check (its tolerances)."""
    grading = request.config.grading
    return grading.rubric.item(request.node.get_closest_marker("item").args[0])
