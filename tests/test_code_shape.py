"""The library's shape: small modules, short functions, imports that only go down, every
package shipped. Read from the source with ``ast``; nothing is imported or run."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "jaxgd"
MODULES = sorted(PACKAGE.rglob("*.py"))

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _docstring_lines(tree: ast.AST) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                lines.update(range(body[0].lineno, body[0].end_lineno + 1))
    return lines


def _code_lines(source: list[str], node: ast.AST, docstrings: set[int]) -> int:
    """Lines of ``node`` that hold code: not blank, not a comment, not a docstring."""
    return sum(
        1
        for number in range(node.lineno, node.end_lineno + 1)
        if number not in docstrings
        and source[number - 1].strip()
        and not source[number - 1].strip().startswith("#")
    )


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_are_small_and_functions_short(path):
    text = path.read_text()
    source = text.splitlines()
    assert len(source) <= MAX_MODULE_LINES, f"{len(source)} lines; split the module by concern"
    tree = ast.parse(text)
    docstrings = _docstring_lines(tree)
    long = {
        node.name: lines
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and (lines := _code_lines(source, node, docstrings)) > MAX_FUNCTION_LINES
    }
    assert not long, (
        f"functions over {MAX_FUNCTION_LINES} lines of code (nested ones counted): {long}"
    )


def _imports(path: Path, known: set[str]) -> set[str]:
    """The jaxgd modules ``path`` imports when it is imported (not those imported inside
    functions, nor under ``if TYPE_CHECKING``)."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in known else node.module)
    return {name for name in found if name in known}


def test_imports_form_no_cycle():
    known = {_name(path) for path in MODULES}
    graph = {_name(path): _imports(path, known) for path in MODULES}
    for name in graph:  # a module's own package is imported first; that is no edge
        graph[name] = {m for m in graph[name] if not name.startswith(m + ".")}
    visiting, done = [], set()

    def visit(module):
        if module in done:
            return
        assert module not in visiting, f"import cycle: {' -> '.join([*visiting, module])}"
        visiting.append(module)
        for imported in sorted(graph[module]):
            visit(imported)
        visiting.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
    # the private engine serves the public modules and never imports them
    for module, imported in graph.items():
        if module.startswith("jaxgd._engine"):
            public = {m for m in imported if not m.split(".")[1].startswith("_")}
            assert public <= {"jaxgd.optim.base"}, f"{module} imports {public}"


def test_every_package_is_shipped():
    line = re.search(r"^packages = \[(.*)\]$", (ROOT / "pyproject.toml").read_text(), re.M)
    listed = set(re.findall(r'"([^"]+)"', line.group(1)))
    packages = {_name(path.parent / "__init__.py") for path in PACKAGE.rglob("__init__.py")}
    assert packages <= listed, f"add {sorted(packages - listed)} to pyproject.toml's packages"
