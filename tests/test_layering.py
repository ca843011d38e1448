"""The house's layering, read from the source: lower packages never import higher ones, not even inside
a function, and ``import mlplab`` stays light."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "src" / "mlplab"
# Bottom to top (docs/architecture.md, "One path"): each layer may import itself and the layers before it, never after.
ORDER = [
    {"errors"}, {"specs", "tomlfile"}, {"extras"}, {"data", "models"}, {"budget"}, {"optim", "layers", "autograd"},
    {"engines"},
    {"training"}, {"geometry", "analysis", "diagnostics"}, {"viz"}, {"api", "compare", "explain", "presets"},
    {"sweep", "store"}, {"web"}, {"cli", "__main__"},
]
RANK = {name: i for i, layer in enumerate(ORDER) for name in layer}


def _top(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "mlplab" and len(parts) > 1 else None


def _imports(path: Path):
    rel = path.relative_to(ROOT).with_suffix("").parts
    package = ["mlplab", *rel[:-1]] if path.name != "__init__.py" else ["mlplab", *rel[:-1]]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                names = [".".join(base + [node.module])] if node.module else [".".join(base + [a.name]) for a in node.names]
            else:
                names = [node.module or ""]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            yield node.lineno, name


def wrong_way_imports():
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        own = rel.parts[0].removesuffix(".py")
        if own == "__init__" or own not in RANK:
            continue
        for line, name in _imports(path):
            target = _top(name)
            if target in RANK and RANK[target] > RANK[own]:
                found.append(f"{rel}:{line} imports mlplab.{target}")
    return found


def test_every_module_has_a_layer():
    tops = {p.relative_to(ROOT).parts[0].removesuffix(".py") for p in ROOT.rglob("*.py")}
    assert tops - {"__init__"} <= set(RANK), f"place these in ORDER: {sorted(tops - {'__init__'} - set(RANK))}"


def test_lower_layers_never_import_higher_ones():
    assert wrong_way_imports() == []


def test_the_check_sees_an_import_inside_a_function(tmp_path, monkeypatch):
    bad = ROOT / "training" / "_layering_probe.py"
    bad.write_text("def f():\n    from ..viz import animate\n    return animate\n")
    try:
        assert "training/_layering_probe.py:2 imports mlplab.viz" in wrong_way_imports()
    finally:
        bad.unlink()


@pytest.mark.parametrize("heavy", ["plotly", "mlplab.viz", "mlplab.sweep", "fastapi"])
def test_import_mlplab_stays_light(heavy):
    code = f"import sys, mlplab; sys.exit(1 if {heavy!r} in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0, f"import mlplab loads {heavy}"
