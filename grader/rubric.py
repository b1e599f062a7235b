"""The rubric: items, points, visibility, tolerances and time limits, read from TOML.

Every problem with the file is a `ConfigError` naming the file, the field and the fix.
"""

import math
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from grader.errors import ConfigError

DEFAULT_RUBRIC = Path(__file__).with_name("rubric.toml")
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
NUMBER_FIELDS = ("time_limit", "rtol", "atol", "rtol_float32", "atol_float32")


@dataclass(frozen=True)
class Item:
    """One rubric item: what it is worth and how it is checked."""

    id: str
    """The handout's problem number, e.g. "1c"; also Gradescope's test `number`."""
    title: str
    points: float
    visibility: str
    """Gradescope visibility: visible, hidden, after_due_date or after_published."""
    time_limit: float
    """Seconds of wall-clock time for all of the item's checks together."""
    rtol: float
    atol: float
    rtol_float32: float
    """Tolerances used instead when the student's result is float32."""
    atol_float32: float


@dataclass(frozen=True)
class Rubric:
    items: tuple[Item, ...]
    source: Path

    @property
    def total(self) -> float:
        return sum(item.points for item in self.items)

    def item(self, item_id: str) -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)


def load(path: Path | None = None) -> Rubric:
    """Read and validate a rubric file (the bundled one by default)."""
    path = Path(path or DEFAULT_RUBRIC)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such rubric file; pass an existing --rubric") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error}); fix the syntax") from error

    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise ConfigError(f"{path}: [defaults] must be a table")
    entries = data.get("items")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: no [[items]]; add at least one rubric item")

    items = tuple(_item(path, index, entry, defaults) for index, entry in enumerate(entries))
    seen = set()
    for index, item in enumerate(items):
        if item.id in seen:
            raise ConfigError(f"{path}: items[{index}].id {item.id!r} appears twice")
        seen.add(item.id)
    return Rubric(items, path)


def _item(path: Path, index: int, entry, defaults: dict) -> Item:
    where = f"{path}: items[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a table")
    merged = {**defaults, **entry}
    unknown = set(merged) - {"id", "title", "points", "visibility", *NUMBER_FIELDS}
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")

    for name in ("id", "title"):
        if not isinstance(merged.get(name), str) or not merged[name].strip():
            raise ConfigError(f"{where}.{name} must be a non-empty string")
    points = merged.get("points")
    if not _is_number(points) or points < 0:
        raise ConfigError(f"{where}.points must be a number >= 0, got {points!r}")
    visibility = merged.get("visibility", "visible")
    if visibility not in VISIBILITIES:
        raise ConfigError(
            f"{where}.visibility must be one of {', '.join(VISIBILITIES)}, got {visibility!r}"
        )
    numbers = {}
    for name in NUMBER_FIELDS:
        value = merged.get(name)
        if not _is_number(value) or value <= 0:
            raise ConfigError(f"{where}.{name} must be a number > 0 (or set in [defaults])")
        numbers[name] = float(value)
    return Item(merged["id"], merged["title"], float(points), visibility, **numbers)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def with_time_limit(loaded: Rubric, seconds: float) -> Rubric:
    """The same rubric with every item's time limit set to `seconds` (from --time-limit)."""
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"--time-limit must be a number of seconds > 0, got {seconds}")
    items = tuple(replace(item, time_limit=float(seconds)) for item in loaded.items)
    return Rubric(items, loaded.source)
