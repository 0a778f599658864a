"""The walls between the stages of the flow, kept by reading every module's imports.

Each module belongs to a stage (its folder); a stage may import only the stages below it:
feeds → base; city → base; store → city; chain → store; intake → chain, feeds; read → store
and the chain's vocabularies; web and pages → read and chain. Only the top (app.py, the CLI,
ioc.compose) names the web app or the demo city. No module or stage imports itself in a circle.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from ioc import PROJECT_ROOT

SCANNED = ("ioc", "feeds", "layouts", "app.py")
TOP_MODULES = {"app", "ioc.cli", "ioc.__main__", "ioc.compose", "ioc.demo_duty"}
BASE_MODULES = {"ioc", "ioc.config", "ioc.errors", "ioc.i18n", "ioc.records"}
STAGE_PACKAGES = {
    "ioc.city": "city", "ioc.store": "store", "ioc.chain": "chain", "ioc.intake": "intake",
    "ioc.read": "read", "ioc.web": "web", "feeds.simulator": "demo", "feeds": "feeds", "layouts": "pages",
}
# What each stage may import (besides itself and the standard library / third-party packages).
ALLOWED = {
    "base": set(),
    "city": {"base"},
    "store": {"base", "city"},
    "runtime": {"base", "city", "store"},
    "chain": {"base", "city", "store"},
    "intake": {"base", "city", "store", "runtime", "chain", "feeds"},
    "read": {"base", "city", "store", "runtime"},
    "web": {"base", "runtime", "read", "chain"},
    "pages": {"base", "runtime", "read", "chain"},
    "feeds": {"base"},
    "demo": {"base", "city", "feeds"},
}
# The chain modules whose words (actors, roles, clock states) the read models speak.
CHAIN_VOCABULARIES = {"ioc.chain.actions", "ioc.chain.sla"}
# Third-party packages a stage must not touch, and why.
FORBIDDEN = {
    "dash": ("the core runs without screens: Dash belongs in layouts/ and app.py",
             {"base", "runtime", "city", "store", "chain", "intake", "read", "web", "feeds", "demo"}),
    "sqlalchemy": ("pages, the API and feeds never touch the store: go through ioc.read or ioc.chain",
                   {"web", "pages", "feeds", "demo"}),
}
WHY = {
    "chain": "the chain never imports the intake, the read models or the web",
    "read": "read models use the store, the city and the chain's vocabularies only",
    "web": "the API works through ioc.read and ioc.chain, never the store or the intake",
    "pages": "pages work through ioc.read and ioc.chain, never the store or the intake",
    "feeds": "adapters speak only ioc.records, ioc.config and ioc.errors",
}


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    path: str  # its file, relative to the project
    line: int
    target: str  # imported module (resolved to a module we have, where it is ours)


def module_name(path: Path) -> str:
    parts = list(path.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def stage_of(module: str) -> str | None:
    """The stage a module of ours belongs to; None for a module that is not ours."""
    if module in TOP_MODULES:
        return "top"
    if module in BASE_MODULES:
        return "base"
    if module == "ioc.runtime":
        return "runtime"
    for package, stage in STAGE_PACKAGES.items():
        if module == package or module.startswith(package + "."):
            return stage
    return None


def read_sources(root: Path = PROJECT_ROOT) -> dict[str, str]:
    files = []
    for entry in SCANNED:
        path = root / entry
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return {str(f.relative_to(root)): f.read_text(encoding="utf-8") for f in files}


def imports_of(sources: dict[str, str]) -> list[Import]:
    """Every import in the sources, at any depth (function-level imports count too)."""
    modules = {module_name(Path(p)) for p in sources}
    found = []
    for path, text in sources.items():
        source = module_name(Path(path))
        package = source if path.endswith("__init__.py") else source.rpartition(".")[0]
        for node in ast.walk(ast.parse(text, filename=path)):
            if isinstance(node, ast.Import):
                found += [Import(source, path, node.lineno, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    found.append(Import(source, path, node.lineno, sub if sub in modules else base))
    return found


def crossings(sources: dict[str, str]) -> list[str]:
    """Each import that crosses a wall, as 'file:line: imports X: why'."""
    problems = []
    for imp in imports_of(sources):
        here, there = stage_of(imp.source), stage_of(imp.target)
        where = f"{imp.path}:{imp.line}: imports {imp.target}"
        if here is None or here == "top":
            continue
        if there is None:
            top_package = imp.target.partition(".")[0].split("_")[0]  # dash_leaflet counts as dash
            reason, stages = FORBIDDEN.get(top_package, ("", set()))
            if here in stages:
                problems.append(f"{where}: {reason}")
            continue
        if there == here:
            continue
        if there in ("top", "demo"):
            problems.append(f"{where}: only app.py, ioc.cli and ioc.compose put the app and the demo city together")
        elif here == "read" and imp.target in CHAIN_VOCABULARIES:
            continue
        elif there not in ALLOWED[here]:
            why = WHY.get(here, f"{here} may import only {', '.join(sorted(ALLOWED[here])) or 'itself'}")
            problems.append(f"{where}: {here} → {there} crosses a wall ({why})")
    return problems


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(groups)


def import_graphs(sources: dict[str, str]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Module → modules and stage → stages, ours only (a package's own __init__ not counted)."""
    ours = {module_name(Path(p)) for p in sources}
    modules: dict[str, set[str]] = {m: set() for m in ours}
    stages: dict[str, set[str]] = {}
    for imp in imports_of(sources):
        if imp.target not in ours or imp.target == imp.source:
            continue
        if imp.source.startswith(imp.target + "."):
            continue  # a module naming its own package (from ioc import PROJECT_ROOT) is no cycle
        modules[imp.source].add(imp.target)
        here, there = stage_of(imp.source), stage_of(imp.target)
        if here and there and here != there:
            stages.setdefault(here, set()).add(there)
    return modules, stages


# --- the walls of this project ----------------------------------------------------------------------


def test_no_import_crosses_a_wall():
    problems = crossings(read_sources())
    assert not problems, "imports that cross a wall:\n" + "\n".join(problems)


def test_no_import_cycles_between_modules_or_stages():
    modules, stages = import_graphs(read_sources())
    found = [" ↔ ".join(group) for group in cycles(modules) + cycles(stages)]
    assert not found, "import cycles:\n" + "\n".join(found)


def test_every_module_of_ours_has_a_stage():
    unplaced = [p for p in read_sources() if stage_of(module_name(Path(p))) is None]
    assert not unplaced, f"modules outside every stage (add them to a package or to the stage table): {unplaced}"


# --- the checker itself finds what it is for ----------------------------------------------------------


def test_a_forbidden_import_is_named_with_its_file_and_line():
    sources = {
        "ioc/chain/workflow.py": "import logging\n\nfrom ioc.intake import fusion\n",
        "ioc/intake/fusion.py": "",
        "ioc/web/rest.py": "def f():\n    from sqlalchemy import text\n",
        "layouts/board.py": "from ioc.store.db import transaction\n",
        "ioc/store/db.py": "",
        "feeds/cad.py": "from ioc.city.geo import to_wgs84\n",
        "ioc/city/geo.py": "",
        "ioc/intake/worker.py": "from feeds.simulator import demo_feeds\n",
        "feeds/simulator/__init__.py": "",
        "ioc/read/lists.py": "from ioc.chain.actions import Actor\nfrom ioc.chain import workflow\n",
        "ioc/chain/actions.py": "",
    }
    problems = crossings(sources)
    assert [p.split(": ")[0] for p in problems] == [
        "ioc/chain/workflow.py:3", "ioc/web/rest.py:2", "layouts/board.py:1", "feeds/cad.py:1",
        "ioc/intake/worker.py:1", "ioc/read/lists.py:2",
    ]
    assert "chain → intake crosses a wall" in problems[0]
    assert "imports sqlalchemy" in problems[1]
    assert "only app.py, ioc.cli and ioc.compose" in problems[4]


def test_a_cycle_is_found_between_modules_and_between_stages():
    sources = {
        "ioc/web/rest.py": "from ioc.web import action_routes\n",
        "ioc/web/action_routes.py": "from ioc.web.rest import endpoint\n",
        "ioc/read/kpi.py": "from ioc.chain import sla\n",
        "ioc/chain/sla.py": "from ioc.read import kpi\n",
    }
    modules, stages = import_graphs(sources)
    assert cycles(modules) == [["ioc.chain.sla", "ioc.read.kpi"], ["ioc.web.action_routes", "ioc.web.rest"]]
    assert cycles(stages) == [["chain", "read"]]
