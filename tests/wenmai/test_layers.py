"""Imports run one way (docs/design.md): models never reach up into pipelines, the command line
or the job driver; pipelines never into the command line or the job driver."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "models": ("wenmai.pipelines", "wenmai.cli", "wenmai.job", "wenmai.benchmarks"),
    "pipelines": ("wenmai.cli", "wenmai.job", "wenmai.benchmarks"),
    "schemas": ("wenmai.pipelines", "wenmai.models", "wenmai.cli", "wenmai.job"),
}


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):  # also inside functions
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_run_one_way(package):
    bad = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        hits = sorted(m for m in imported_modules(path)
                      if any(m == f or m.startswith(f + ".") for f in FORBIDDEN[package]))
        if hits:
            bad[str(path.relative_to(ROOT))] = hits
    assert bad == {}


def test_nothing_cites_a_design_file_outside_the_repository():
    files = [p for p in ROOT.rglob("*") if p.suffix in (".py", ".md", ".cfg", ".toml")
             and ".git" not in p.parts and "runs" not in p.parts]
    citing = [str(p.relative_to(ROOT)) for p in files
              if "DESIGN" + ".md" in p.read_text(encoding="utf-8", errors="replace")]
    assert citing == []
