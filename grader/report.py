"""What a grading run tells people: the terminal table, results.json and the CSV gradebook."""

import csv
import json
import os
import sys
import tempfile
from pathlib import Path

from grader.rubric import Rubric
from grader.runner import SubmissionResult

MAX_OUTPUT_CHARS = 4000
"""Per item, of what the student's code printed, kept in results.json."""
CSV_ERROR_CHARS = 200
"""The CSV's error column is a hint for the TA; results.json has the whole story."""


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
        "output_format": "text",
        "test_output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {**extra, "isolation": result.isolation},
    }


def _item_output(item_result) -> str:
    lines = [f"{item_result.passed} of {item_result.total} checks passed."]
    lines += [text for key, text in item_result.artifacts.items() if key.startswith("summary")]
    lines += [f"- {failure}" for failure in item_result.failures]
    if item_result.output.strip():
        printed = _clip(item_result.output, MAX_OUTPUT_CHARS)
        lines += ["", "Your code printed:", printed]
    return "\n".join(lines)


def write_json(path: Path, data: dict) -> None:
    """Write atomically, so a reader never sees half a file.

    The temporary file has a fresh random name (created with O_EXCL), so nothing planted
    beside `path` beforehand (a symlink from a worker, say) can redirect the write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as stream:
            stream.write(json.dumps(data, indent=2) + "\n")
        os.chmod(partial, 0o644)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def write_csv(path: Path, results: list[SubmissionResult], rubric: Rubric) -> None:
    """The gradebook: one row per submission, the rubric's items as columns in its order.

    Header: submission, total, one column per item id, isolation, error. Text cells that a
    spreadsheet would read as a formula (starting with =, +, - or @) get a leading quote.
    """
    header = ["submission", "total", *(item.id for item in rubric.items), "isolation", "error"]
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        for result in results:
            scores = {item_result.item.id: item_result.score for item_result in result.items}
            item_cells = [
                _points(scores[item.id]) if item.id in scores else "" for item in rubric.items
            ]
            error = _clip(" ".join("; ".join(result.problems).split()), CSV_ERROR_CHARS)
            isolation = result.isolation.get("level", "")
            writer.writerow(
                [_cell(result.name), _points(result.score), *item_cells, isolation, _cell(error)]
            )


def _cell(text: str) -> str:
    """Text a spreadsheet shows as text, never evaluates."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def class_table(results: list[SubmissionResult]) -> str:
    """One line per submission: its name, total and the items it lost points in."""
    width = max((len(result.name) for result in results), default=0)
    lines = []
    for result in results:
        lost = [item.item.id for item in result.items if item.score < item.item.points]
        shown = f"lost {', '.join(lost)}" if lost else "full marks"
        lines.append(
            f"  {result.name:<{width}}  {_points(result.score):>5} / {_points(result.max_score)}"
            f"  {shown}"
        )
    return "\n".join(lines)


def unique_names(names: list[str]) -> list[str]:
    """File-safe forms of `names`, numbered (`name-2`, ...) where two would be the same."""
    taken: set[str] = set()
    unique = []
    for name in names:
        base = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).lstrip(".")
        base = base or "submission"
        candidate, number = base, 1
        while candidate in taken:
            number += 1
            candidate = f"{base}-{number}"
        taken.add(candidate)
        unique.append(candidate)
    return unique


def _points(value: float) -> str:
    return f"{value:g}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
