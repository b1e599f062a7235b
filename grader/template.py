"""Derive the student template from the reference solution by stripping function bodies.

Every function and method keeps its signature and docstring; the rest of its body becomes
`raise NotImplementedError`. The replacement is made on the source text, by the line
numbers `ast` reports, so module and class docstrings, imports, comments and formatting
outside function bodies survive unchanged. Imports that only the stripped bodies used stay
(the student needs them) and get `# noqa: F401`, so the handout passes ruff as it is.

Only the `.py` files under the reference are generated; anything else in the template
folder (tester notebooks, testerData.npz) is left alone.
"""

import argparse
import ast
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

from grader.errors import ConfigError

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
STUB = "raise NotImplementedError"
UNUSED_IMPORT_PRAGMA = "  # noqa: F401"

Function = ast.FunctionDef | ast.AsyncFunctionDef


def strip_source(text: str) -> str:
    """Return `text` with every outermost function body replaced by the stub.

    Nested functions disappear with the body that holds them. Raises SyntaxError if `text`
    is not Python, and ValueError for a body that starts on its `def` line.
    """
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)

    # Bottom-up, so that the line numbers of the functions still to do stay valid.
    for function in sorted(_outermost_functions(tree), key=lambda f: f.lineno, reverse=True):
        start, end, indent = _replaced_span(function, lines)
        lines[start:end] = [f"{indent}{STUB}\n"]

    return _mark_unused_imports("".join(lines))


def build_template(reference_dir: Path, out_dir: Path) -> list[Path]:
    """Write the stripped copy of every `.py` file of `reference_dir` into `out_dir`.

    Returns the paths written. `.py` files under the generated packages that the reference
    no longer has are removed; every other file in `out_dir` is left alone.
    """
    expected = _expected_template(reference_dir)

    written = []
    for relative_path, text in expected.items():
        path = out_dir / relative_path
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            logger.info("writing %s", path)
        path.write_text(text, encoding="utf-8")
        written.append(path)

    for relative_path in _extra_files(expected, reference_dir, out_dir):
        logger.info("removing %s: the reference has no such file", out_dir / relative_path)
        (out_dir / relative_path).unlink()

    return written


def template_drift(reference_dir: Path, template_dir: Path) -> list[str]:
    """Return the relative paths where `template_dir` differs from what build_template writes.

    Lists, sorted, the `.py` files that are missing or have other content, and the extra
    `.py` files under the generated packages; an empty list means the template is current.
    """
    expected = _expected_template(reference_dir)

    drift = [
        relative_path
        for relative_path, text in expected.items()
        if not (template_dir / relative_path).is_file()
        or (template_dir / relative_path).read_text(encoding="utf-8") != text
    ]
    drift += _extra_files(expected, reference_dir, template_dir)
    return sorted(drift)


def _outermost_functions(node: ast.AST) -> Iterator[Function]:
    """Yield the functions and methods under `node` that are not inside another function."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, Function):
            yield child
        else:
            yield from _outermost_functions(child)


def _is_docstring(statement: ast.stmt) -> bool:
    """Whether `statement` is a bare string literal (a docstring when it comes first)."""
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def _is_comment_or_blank(line: str, indent: str) -> bool:
    """Whether `line` is blank or a comment indented at least as deep as a body at `indent`."""
    return not line.strip() or (line.startswith(indent) and line.lstrip().startswith("#"))


def _replaced_span(function: Function, lines: list[str]) -> tuple[int, int, str]:
    """Return (start, end, indent): lines[start:end] are what the stub of `function` replaces.

    The span runs from just after the docstring (or from the first line of the body) to the
    last statement, and takes in the comments that sit inside the body at either end.
    """
    body = function.body
    first_line = lines[body[0].lineno - 1]
    indent = first_line[: body[0].col_offset]
    if indent.strip():
        raise ValueError(f"line {body[0].lineno}: a body on its def line cannot be stripped")

    has_docstring = _is_docstring(body[0])
    if has_docstring:
        start = body[0].end_lineno
    else:
        start = body[0].lineno - 1
        while start > function.lineno and _is_comment_or_blank(lines[start - 1], indent):
            start -= 1
    if has_docstring and len(body) == 1:
        return start, start, indent

    end = body[-1].end_lineno
    probe = end
    while probe < len(lines) and _is_comment_or_blank(lines[probe], indent):
        probe += 1
        if lines[probe - 1].strip():
            end = probe
    return start, end, indent


def _mark_unused_imports(text: str) -> str:
    """Append `# noqa: F401` to the import lines whose names `text` no longer uses."""
    tree = ast.parse(text)
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    used |= _dunder_all(tree)

    unused_lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                bound_name = alias.asname or alias.name.split(".")[0]
                if alias.name != "*" and bound_name not in used:
                    unused_lines.add(alias.lineno - 1)

    lines = text.splitlines(keepends=True)
    for index in unused_lines:
        line = lines[index]
        if "# noqa" not in line:
            content = line.rstrip("\r\n")
            lines[index] = content + UNUSED_IMPORT_PRAGMA + line[len(content) :]
    return "".join(lines)


def _dunder_all(tree: ast.Module) -> set[str]:
    """The names listed in a module-level `__all__ = [...]`, which count as used."""
    names = set()
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in statement.targets
        ):
            names |= {
                element.value
                for element in ast.walk(statement.value)
                if isinstance(element, ast.Constant) and isinstance(element.value, str)
            }
    return names


def _expected_template(reference_dir: Path) -> dict[str, str]:
    """Map each `.py` file of `reference_dir` (relative POSIX path) to its stripped text."""
    sources = sorted(
        path
        for path in reference_dir.rglob("*.py")
        if not any(part.startswith(".") or part == "__pycache__" for part in path.parts)
    )
    if not sources:
        raise ConfigError(
            f"no .py files under {reference_dir}: point it at the reference solution "
            "(the folder that holds mytorch/ and models/)"
        )

    expected = {}
    for path in sources:
        try:
            expected[path.relative_to(reference_dir).as_posix()] = strip_source(
                path.read_text(encoding="utf-8")
            )
        except (SyntaxError, ValueError) as error:
            raise ConfigError(f"cannot strip {path}: {error}; fix the reference file") from error
    return expected


def _extra_files(expected: dict[str, str], reference_dir: Path, template_dir: Path) -> list[str]:
    """The `.py` files under the template's generated packages that the reference lacks.

    The generated packages are the top-level folders of the reference (mytorch/, models/);
    files beside them in the template are the handout's own and never count as extra.
    """
    packages = sorted(
        path.name
        for path in reference_dir.iterdir()
        if path.is_dir() and not path.name.startswith((".", "__pycache__"))
    )
    return sorted(
        path.relative_to(template_dir).as_posix()
        for package in packages
        for path in (template_dir / package).rglob("*.py")
        if "__pycache__" not in path.parts
        and path.relative_to(template_dir).as_posix() not in expected
    )


def main(argv: list[str] | None = None) -> int:
    """`grade template [--check]`: rebuild student_template/ from reference/, or verify it.

    Returns the exit status: 1 when --check finds the template stale. A ConfigError (no
    reference, a file that cannot be stripped) propagates to the caller.
    """
    parser = argparse.ArgumentParser(
        prog="grade template", description="Rebuild the handout's code from the reference."
    )
    parser.add_argument("--reference", type=Path, default=REPO_ROOT / "reference")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "student_template")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the template is stale"
    )
    args = parser.parse_args(argv)

    if not args.check:
        written = build_template(args.reference, args.out)
        print(f"wrote {len(written)} files to {args.out}")
        return 0

    drift = template_drift(args.reference, args.out)
    for relative_path in drift:
        print(f"stale: {args.out / relative_path}", file=sys.stderr)
    print(f"{len(drift)} stale file(s): run `grade template`" if drift else "template OK")
    return 1 if drift else 0


if __name__ == "__main__":
    from grader.cli import main as grade

    sys.exit(grade(["template", *sys.argv[1:]]))
