"""docs/reliability.md stays true: every test it names exists, and every fault test is named there."""

from __future__ import annotations

import ast
import re

from ioc import PROJECT_ROOT

DOC = PROJECT_ROOT / "docs" / "reliability.md"
FAULT_FILES = ("tests/intake/test_faults.py", "tests/intake/test_faults_services.py",
               "tests/feeds/test_properties.py", "tests/intake/test_pipeline_properties.py", "tests/test_load.py")


def named_tests() -> set[tuple[str, str]]:
    return set(re.findall(r"`(tests/[\w/]+\.py)::(test_\w+)`", DOC.read_text(encoding="utf-8")))


def functions_in(path: str) -> set[str]:
    tree = ast.parse((PROJECT_ROOT / path).read_text(encoding="utf-8"))
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}


def test_every_test_the_matrix_names_exists():
    named = named_tests()
    assert len(named) >= 20
    missing = [f"{path}::{name}" for path, name in sorted(named)
               if not (PROJECT_ROOT / path).exists() or name not in functions_in(path)]
    assert not missing, f"docs/reliability.md names tests that do not exist: {missing}"


def test_every_fault_test_is_in_the_matrix():
    named = named_tests()
    absent = [f"{path}::{name}" for path in FAULT_FILES for name in sorted(functions_in(path)) if (path, name) not in named]
    assert not absent, f"fault tests missing from docs/reliability.md: {absent}"


def test_the_soak_figures_are_recorded():
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Soak figures", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"100 clients", section) and re.search(r"p95", section), "no soak figures in docs/reliability.md"
