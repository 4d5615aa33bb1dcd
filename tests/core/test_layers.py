"""Dependencies point one way (DESIGN.md), checked on every import the packages hold.

Every import is read with :mod:`ast`: at module level, inside functions, under
``if TYPE_CHECKING:``, literal ``importlib.import_module("...")`` calls, and names a
package re-exports lazily from a ``{"Name": "module"}`` table in its ``__init__``.
An import hidden in a function still couples two files, so it counts like any other.

The layers, lowest first; a part imports itself and the parts listed for it::

    srscope       shared ground floor: errors, logger, pixel checks, file contracts
    sr_engine     runs a model                 -> srscope            (never torch)
    training      makes a model                -> sr_engine, srscope (only part with torch)
    acquisition   drives a microscope          -> sr_engine, srscope
    ui            the Qt viewer                -> acquisition, sr_engine, srscope
    srscope_cli   composition root: the ``srscope`` command; imports every part,
                  nothing imports it (a package's ``__main__`` belongs here too)
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[2]
TOP = "srscope_cli"
ALLOWED: dict[str, frozenset[str]] = {
    "srscope": frozenset(),
    "sr_engine": frozenset({"srscope"}),
    "training": frozenset({"sr_engine", "srscope"}),
    "acquisition": frozenset({"sr_engine", "srscope"}),
    "ui": frozenset({"acquisition", "sr_engine", "srscope"}),
    TOP: frozenset({"srscope", "sr_engine", "training", "acquisition", "ui"}),
}
# third-party packages that belong to one part (DESIGN.md: "Only this part imports torch")
OWNED = {
    "torch": "training",
    "pymmcore_plus": "acquisition",
    "qtpy": "ui",
    "pyqtgraph": "ui",
    "PySide6": "ui",
}
TEST_HELPERS = ("sr_engine.testing", "tests", "conftest")

# Each exemption: (importer, imported module or its prefix) or a part whose internal
# cycles are tolerated, with the reason. Temporary; a stale one fails the suite.
EXEMPT_IMPORTS: dict[tuple[str, str], str] = {}
EXEMPT_CYCLES: dict[str, str] = {}


@dataclass(frozen=True)
class Import:
    importer: str  # module name, e.g. "sr_engine.model"
    target: str  # what it names, resolved to a project module where it is one
    line: int

    @property
    def where(self) -> str:
        return f"{module_file(self.importer)}:{self.line}"


def part(module: str) -> str:
    """The layer a module belongs to; ``__main__`` scripts run the command line."""
    return TOP if module.rsplit(".", 1)[-1] == "__main__" else module.split(".")[0]


@cache
def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in ALLOWED:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def module_file(module: str) -> str:
    return str(modules()[module].relative_to(ROOT))


def _project_module(name: str) -> str | None:
    """The deepest project module ``name`` lies in (``a.b.func`` -> ``a.b``)."""
    mods = modules()
    while name not in mods:
        if "." not in name:
            return None
        name = name.rsplit(".", 1)[0]
    return name


@cache
def _lazy_exports(package: str) -> dict[str, str]:
    """``{"Name": "module"}`` tables in a package's ``__init__`` (lazy re-exports)."""
    path = modules().get(package)
    if path is None or path.name != "__init__.py":
        return {}
    table: dict[str, str] = {}
    for node in ast.parse(path.read_text()).body:
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        if not isinstance(value, ast.Dict):
            continue
        for k, v in zip(value.keys, value.values, strict=True):
            key, mod = getattr(k, "value", None), getattr(v, "value", None)
            if not (isinstance(key, str) and isinstance(mod, str)):
                continue
            for cand in (f"{package}.{mod}", mod):
                if cand in modules():
                    table[key] = cand
                    break
    return table


def _from_base(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The module a ``from ... import`` reads from, relative imports resolved."""
    base = node.module or ""
    if not node.level:
        return base
    here = module if path.name == "__init__.py" else module.rpartition(".")[0]
    parent = here.split(".")[: len(here.split(".")) - node.level + 1]
    return ".".join([*parent, *([base] if base else [])])


def _names(module: str, path: Path, node: ast.AST) -> Iterator[str]:
    """Dotted names one import statement (or literal import_module call) brings in."""
    if isinstance(node, ast.Import):
        yield from (a.name for a in node.names)
    elif isinstance(node, ast.ImportFrom):
        base = _from_base(module, path, node)
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            lazy = _lazy_exports(base).get(alias.name)
            yield sub if sub in modules() else (lazy or base)
    elif isinstance(node, ast.Call) and node.args:
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        arg = getattr(node.args[0], "value", None)
        if called in {"import_module", "__import__"} and isinstance(arg, str):
            yield arg


@cache
def imports() -> tuple[Import, ...]:
    found = []
    for module, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            for name in _names(module, path, node):
                target = _project_module(name) or name
                if target != module:
                    found.append(Import(module, target, node.lineno))
    return tuple(dict.fromkeys(found))  # one per file, line and target


@cache
def private_imports() -> tuple[Import, ...]:
    """``from module import _name`` across files: target ``module._name``."""
    found = []
    for module, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ImportFrom):
                continue
            base = _from_base(module, path, node)
            for alias in node.names:
                private = alias.name.startswith("_") and not alias.name.startswith("__")
                if private and base in modules() and base != module:
                    found.append(Import(module, f"{base}.{alias.name}", node.lineno))
    return tuple(dict.fromkeys(found))


def _exempt_import(imp: Import) -> bool:
    return any(
        imp.importer == who and (imp.target == what or imp.target.startswith(what + "."))
        for who, what in EXEMPT_IMPORTS
    )


def _cycles() -> list[tuple[list[str], list[str]]]:
    """Knots of project modules (strongly connected, Tarjan): one cycle and all members."""
    graph: dict[str, set[str]] = {m: set() for m in modules()}
    for imp in imports():
        if imp.target in graph:
            graph[imp.importer].add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [(_one_cycle(graph, comp), sorted(comp)) for comp in components]


def _one_cycle(graph: dict[str, set[str]], comp: set[str]) -> list[str]:
    """A shortest cycle through the first module of ``comp``, staying inside ``comp``."""
    start = min(comp)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & comp):
                if w == start:
                    return [*paths[v], start]
                if w not in paths:
                    paths[w] = [*paths[v], w]
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover


def _cycle_part(cycle: list[str]) -> str | None:
    parts = {part(m) for m in cycle}
    return parts.pop() if len(parts) == 1 else None


def test_the_packages_are_all_read():
    mods = modules()
    assert {part(m) for m in mods} == set(ALLOWED)
    assert len(mods) > 100 and len(imports()) > 500


def test_no_import_cycles_between_files():
    bad = [(c, k) for c, k in _cycles() if _cycle_part(c) not in EXEMPT_CYCLES]
    assert not bad, "import cycles (one per knot, then all files in it):\n" + "\n".join(
        " -> ".join(module_file(m) for m in c) + f"   [{', '.join(map(module_file, k))}]"
        for c, k in bad
    )


def test_imports_follow_the_layers():
    bad = [
        f"{imp.where}: {part(imp.importer)} may not import {imp.target}"
        for imp in imports()
        if part(imp.target) in ALLOWED
        and part(imp.target) != part(imp.importer)
        and part(imp.target) not in ALLOWED[part(imp.importer)]
        and not _exempt_import(imp)
    ]
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_third_party_packages_stay_in_their_part():
    bad = [
        f"{imp.where}: {imp.target} belongs to {OWNED[top]} only"
        for imp in imports()
        if (top := imp.target.split(".")[0]) in OWNED and part(imp.importer) != OWNED[top]
    ]
    assert not bad, "\n".join(bad)


def test_production_code_does_not_import_test_helpers():
    bad = [
        f"{imp.where}: imports the test helper {imp.target}"
        for imp in imports()
        if imp.importer not in TEST_HELPERS
        and any(imp.target == t or imp.target.startswith(t + ".") for t in TEST_HELPERS)
    ]
    assert not bad, "\n".join(bad)


def test_no_private_names_across_files():
    """A leading underscore means "this file only"; a second user makes it a seam to name."""
    bad = [
        f"{imp.where}: imports {imp.target}" for imp in private_imports() if not _exempt_import(imp)
    ]
    assert not bad, "private names imported from another file:\n" + "\n".join(bad)


def test_evaluation_reaches_neither_acquisition_nor_torch():
    """Everything training/evaluation can import, even inside a function."""
    graph: dict[str, set[str]] = {}
    for imp in imports():
        graph.setdefault(imp.importer, set()).add(imp.target)
    todo = [m for m in modules() if m.startswith("training.evaluation")]
    seen: dict[str, str] = {m: m for m in todo}  # module -> who brought it in
    while todo:
        m = todo.pop()
        for t in graph.get(m, ()):
            if t not in seen:
                seen[t] = m
                todo.append(t)
    bad = [
        f"{t} (via {seen[t]})"
        for t in sorted(seen)
        if t.split(".")[0] in {"acquisition", "torch", "pymmcore_plus"}
    ]
    assert not bad, "training/evaluation reaches: " + ", ".join(bad)


BLOCKED_IMPORT = """
import importlib, pkgutil, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"torch", "pymmcore_plus", "acquisition"}:
            raise ImportError(f"{name} is blocked in this test")
sys.meta_path.insert(0, Block())
import training.evaluation as ev
for info in pkgutil.walk_packages(ev.__path__, "training.evaluation."):
    importlib.import_module(info.name)
"""


def test_evaluation_imports_without_acquisition_or_torch():
    proc = subprocess.run([sys.executable, "-c", BLOCKED_IMPORT], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_exemptions_are_still_needed():
    """A fixed exemption is deleted, so the list only says what is still wrong."""
    stale = [
        f"{who} -> {what}"
        for who, what in EXEMPT_IMPORTS
        if not any(
            imp.importer == who and (imp.target == what or imp.target.startswith(what + "."))
            for imp in (*imports(), *private_imports())
        )
    ]
    cycle_parts = {_cycle_part(c) for c, _ in _cycles()}
    stale += [f"cycles in {p}" for p in EXEMPT_CYCLES if p not in cycle_parts]
    assert not stale, "exemptions no longer needed (delete them): " + ", ".join(stale)
    assert len(EXEMPT_IMPORTS) + len(EXEMPT_CYCLES) <= 5


def test_the_command_line_is_the_composition_root():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["srscope"].split(":")[0].split(".")[0] == TOP
    importers = {imp.importer for imp in imports() if part(imp.target) == TOP}
    assert all(part(m) == TOP for m in importers), importers


@pytest.mark.parametrize("package", ["srscope", TOP])
def test_python_m_runs_the_command_line(package):
    proc = subprocess.run(
        [sys.executable, "-m", package, "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    assert "predict" in proc.stdout and "calibrate" in proc.stdout
