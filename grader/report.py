"""What a grading run tells people: the terminal table, results.json and the CSV gradebook."""

import csv
import json
import os
import sys
from pathlib import Path

from grader.runner import SubmissionResult

MAX_OUTPUT_CHARS = 4000
"""Per item, of what the student's code printed, kept in results.json."""


def table(result: SubmissionResult, color: bool | None = None) -> str:
    """A plain-text score table: item, score, max and a one-line reason."""
    if color is None:
        color = sys.stdout.isatty() and os.environ.get("NO_COLOR") is None
    rows = [("item", "score", "max", "reason")]
    for item_result in result.items:
        item = item_result.item
        rows.append(
            (
                f"{item.id} {item.title}",
                _points(item_result.score),
                _points(item.points),
                _clip(item_result.reason, 90),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(3)]

    lines = [f"{result.name}: {_points(result.score)} / {_points(result.max_score)}"]
    lines += [f"  ! {problem}" for problem in result.problems]
    for index, row in enumerate(rows):
        text = f"  {row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}"
        if color and index > 0:
            full = result.items[index - 1].passed == result.items[index - 1].total
            text = f"\033[{32 if full else 31}m{text}\033[0m"
        lines.append(text)
    return "\n".join(lines)


def results_json(result: SubmissionResult, extra: dict) -> dict:
    """Gradescope's results.json: one test per rubric item, `number` being the item id."""
    tests = []
    for item_result in result.items:
        item = item_result.item
        tests.append(
            {
                "number": item.id,
                "name": item.title,
                "score": item_result.score,
                "max_score": item.points,
                "status": "passed" if item_result.passed == item_result.total else "failed",
                "output": _item_output(item_result),
                "visibility": item.visibility,
            }
        )
    output = "\n".join(result.problems)
    return {
        "score": result.score,
        "execution_time": round(result.seconds, 2),
        "output": output or f"Graded {len(tests)} rubric items.",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {**extra, "isolation": result.isolation},
    }


def _item_output(item_result) -> str:
    lines = [f"{item_result.passed} of {item_result.total} checks passed."]
    lines += [f"- {failure}" for failure in item_result.failures]
    if item_result.output.strip():
        printed = _clip(item_result.output, MAX_OUTPUT_CHARS)
        lines += ["", "Your code printed:", printed]
    return "\n".join(lines)


def write_json(path: Path, data: dict) -> None:
    """Write atomically, so a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(partial, path)


def write_csv(path: Path, results: list[SubmissionResult]) -> None:
    """The gradebook: one row per submission, columns in rubric order."""
    items = results[0].items if results else []
    header = ["submission", "total"] + [item.item.id for item in items] + ["isolation", "error"]
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        for result in results:
            row = [result.name, _points(result.score)]
            row += [_points(item.score) for item in result.items]
            row += [result.isolation.get("level", ""), "; ".join(result.problems)[:200]]
            writer.writerow(row)


def class_table(results: list[SubmissionResult]) -> str:
    """One line per submission: its name, total and the items it lost."""
    width = max(len(result.name) for result in results)
    lines = []
    for result in results:
        lost = [item.item.id for item in result.items if item.passed < item.total]
        shown = f"lost {', '.join(lost)}" if lost else "full marks"
        lines.append(
            f"  {result.name:<{width}}  {_points(result.score):>5} / {_points(result.max_score)}"
            f"  {shown}"
        )
    return "\n".join(lines)


def unique_names(results: list[SubmissionResult]) -> list[str]:
    """File-safe names, numbered where two submissions share one."""
    counts: dict[str, int] = {}
    names = []
    for result in results:
        base = "".join(c if c.isalnum() or c in "-_." else "_" for c in result.name) or "submission"
        counts[base] = counts.get(base, 0) + 1
        names.append(base if counts[base] == 1 else f"{base}-{counts[base]}")
    return names


def _points(value: float) -> str:
    return f"{value:g}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
