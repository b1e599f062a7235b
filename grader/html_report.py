"""`grade SUBMISSION --html report.html`: one self-contained page a student can look at.

The page holds the score table, every item's feedback, the student's activation curves
and derivatives over torch's, and item 6's training curves. Plots are inline SVG drawn
here, so the page needs no network and no script to view.
"""

import html
import math
from pathlib import Path

from grader.runner import ItemResult, SubmissionResult

ACTIVATION_ITEMS = {"4a": "Sigmoid", "4b": "Tanh", "4c": "ReLU"}
TRAINING_ITEM = "6"
STUDENT_COLOUR, TORCH_COLOUR = "#d9480f", "#1c7ed6"

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #ddd; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.full td.score { color: #2b8a3e; } tr.partial td.score { color: #c92a2a; }
pre { white-space: pre-wrap; background: #f8f9fa; padding: .6rem; font-size: .85rem; }
.plots { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 0; } figcaption { font-size: .85rem; color: #555; }
.problem { color: #c92a2a; }
"""


def render(result: SubmissionResult) -> str:
    """The whole page for one graded submission."""
    title = f"{result.name}: {result.score:g} / {result.max_score:g}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
    ]
    parts += [f'<p class="problem">{_e(problem)}</p>' for problem in result.problems]
    parts.append(_score_table(result.items))
    parts.append(_activation_section(result.items))
    parts.append(_training_section(result.items))
    parts.append("<h2>Feedback</h2>")
    for item_result in result.items:
        parts.append(_feedback(item_result))
    parts.append("</body></html>")
    return "\n".join(part for part in parts if part)


def write(path: Path, result: SubmissionResult) -> None:
    Path(path).write_text(render(result), encoding="utf-8")


def _score_table(items: list[ItemResult]) -> str:
    rows = ["<table id='scores'><tr><th>item</th><th>score</th><th>max</th><th>reason</th></tr>"]
    for item_result in items:
        item = item_result.item
        css = "full" if item_result.passed == item_result.total else "partial"
        rows.append(
            f"<tr class='{css}'><td>{_e(item.id)} {_e(item.title)}</td>"
            f"<td class='num score'>{item_result.score:g}</td><td class='num'>{item.points:g}</td>"
            f"<td>{_e(item_result.reason)}</td></tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def _feedback(item_result: ItemResult) -> str:
    item = item_result.item
    lines = [f"{item_result.passed} of {item_result.total} checks passed."]
    lines += [f"- {failure}" for failure in item_result.failures]
    if item_result.output.strip():
        lines += ["", "Your code printed:", item_result.output]
    heading = f"<h3 id='item-{_e(item.id)}'>{_e(item.id)} {_e(item.title)}</h3>"
    return f"{heading}<pre>{_e(chr(10).join(lines))}</pre>"


def _activation_section(items: list[ItemResult]) -> str:
    figures = []
    for item_result in items:
        name = ACTIVATION_ITEMS.get(item_result.item.id)
        curve = item_result.artifacts
        if name is None or "curve/H" not in curve:
            continue
        for quantity, label in (("A", f"{name}.forward(H)"), ("dAdH", f"{name}.backward()")):
            if f"curve/torch_{quantity}" not in curve:
                continue
            series = [
                ("torch", curve["curve/H"], curve[f"curve/torch_{quantity}"], TORCH_COLOUR, "")
            ]
            if f"curve/{quantity}" in curve:
                series.append(
                    ("yours", curve["curve/H"], curve[f"curve/{quantity}"], STUDENT_COLOUR, "6 4")
                )
            figures.append(_figure(label, series, "H"))
    if not figures:
        return ""
    return (
        "<h2>Activations</h2><div class='plots' id='activation-plots'>"
        + "".join(figures)
        + "</div>"
    )


def _training_section(items: list[ItemResult]) -> str:
    training = next((item for item in items if item.item.id == TRAINING_ITEM), None)
    if training is None:
        return ""
    figures = []
    for key in sorted(training.artifacts):
        if not key.endswith("/torch_losses"):
            continue
        case = key.split("/")[0]
        torch_losses = training.artifacts[key]
        steps = list(range(len(torch_losses)))
        series = [("torch", steps, torch_losses, TORCH_COLOUR, "")]
        if f"{case}/losses" in training.artifacts:
            series.append(
                ("yours", steps, training.artifacts[f"{case}/losses"], STUDENT_COLOUR, "6 4")
            )
        figures.append(_figure(f"{case}: loss per step", series, "step"))
    if not figures:
        return ""
    summary = _e(training.reason)
    return (
        f"<h2>Training run (item 6)</h2><p>{summary}</p>"
        "<div class='plots' id='training-plots'>" + "".join(figures) + "</div>"
    )


def _figure(caption: str, series, x_label: str) -> str:
    return f"<figure>{_svg(series, x_label)}<figcaption>{_e(caption)}</figcaption></figure>"


def _svg(series, x_label: str, width: int = 420, height: int = 260) -> str:
    """Line plot of [(label, xs, ys, colour, dash)]; None or non-finite ys leave gaps."""
    margin_left, margin_right, margin_top, margin_bottom = 52, 12, 12, 36
    points = [
        (x, y)
        for _, xs, ys, _, _ in series
        for x, y in zip(xs, ys, strict=False)
        if y is not None and math.isfinite(y)
    ]
    if not points:
        return f"<svg width='{width}' height='{height}'><text x='10' y='20'>no values</text></svg>"
    x_min, x_max = min(x for x, _ in points), max(x for x, _ in points)
    y_min, y_max = min(y for _, y in points), max(y for _, y in points)
    if y_max - y_min < 1e-12:
        y_min, y_max = y_min - 1, y_max + 1
    x_span, y_span = (x_max - x_min) or 1.0, y_max - y_min
    plot_width = width - margin_left - margin_right
    plot_height = height - margin_top - margin_bottom

    def px(x, y):
        return (
            margin_left + (x - x_min) / x_span * plot_width,
            margin_top + (y_max - y) / y_span * plot_height,
        )

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img'>",
        f"<rect x='{margin_left}' y='{margin_top}' width='{plot_width}' height='{plot_height}' "
        "fill='white' stroke='#ccc'/>",
    ]
    for value, anchor_y in ((y_max, margin_top + 4), (y_min, margin_top + plot_height)):
        parts.append(
            f"<text x='{margin_left - 4}' y='{anchor_y}' font-size='10' text-anchor='end'>"
            f"{value:.3g}</text>"
        )
    bottom = margin_top + plot_height + 14
    parts.append(f"<text x='{margin_left}' y='{bottom}' font-size='10'>{x_min:.3g}</text>")
    parts.append(
        f"<text x='{width - margin_right}' y='{bottom}' font-size='10' text-anchor='end'>"
        f"{x_max:.3g}</text>"
    )
    parts.append(
        f"<text x='{margin_left + plot_width / 2}' y='{height - 6}' font-size='11' "
        f"text-anchor='middle'>{_e(x_label)}</text>"
    )
    for index, (label, xs, ys, colour, dash) in enumerate(series):
        for segment in _segments(xs, ys):
            coordinates = " ".join(f"{a:.1f},{b:.1f}" for a, b in (px(x, y) for x, y in segment))
            dashes = f" stroke-dasharray='{dash}'" if dash else ""
            parts.append(
                f"<polyline fill='none' stroke='{colour}' stroke-width='2'{dashes} "
                f"points='{coordinates}'><title>{_e(label)}</title></polyline>"
            )
        legend_y = margin_top + 14 + 14 * index
        parts.append(
            f"<text x='{margin_left + 8}' y='{legend_y}' font-size='11' fill='{colour}'>"
            f"{_e(label)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _segments(xs, ys):
    """Runs of finite points, so that a NaN in the student's values leaves a visible gap."""
    segment = []
    for x, y in zip(xs, ys, strict=False):
        if y is None or not math.isfinite(y):
            if segment:
                yield segment
            segment = []
        else:
            segment.append((x, y))
    if segment:
        yield segment


def _e(text) -> str:
    return html.escape(str(text), quote=True)
