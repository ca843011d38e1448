"""The README's presets table against `mlplab list`, the truth: every preset listed, each under its notebook."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _listed() -> dict[str, str]:
    """name -> notebook, as `mlplab list` prints them (a wide terminal: one row per preset)."""
    out = subprocess.run([sys.executable, "-m", "mlplab", "list"], capture_output=True, text=True, check=True,
                         env={**os.environ, "COLUMNS": "300"}).stdout
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line)[1:-1]]
        if len(cells) == 3 and cells[0] and cells[0] != "name":
            rows[cells[0]] = cells[1]
    return rows


def _readme_table() -> dict[str, str]:
    """name -> notebook, from the README's presets table (its rows start with the notebook's number)."""
    text = README.read_text()
    section = text[text.index("\n## Presets\n"):]
    section = section[:section.index("\n\n", section.index("| notebook |"))]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\| ([0-9/]+) [^|]*\| (.*) \|$", line)
        if not m:
            continue
        # preset names: backticked words that are not a field or an expression (`model.norm_stem = false`)
        for name in re.findall(r"`([a-z0-9][a-z0-9-]*)`", m.group(2)):
            rows.setdefault(name, m.group(1))
    return rows


def test_the_presets_table_lists_every_preset_under_its_notebook():
    truth, table = _listed(), _readme_table()
    assert len(truth) > 30, truth  # the parse of `mlplab list` found the presets
    missing = sorted(set(truth) - set(table))
    assert not missing, f"presets missing from the README's table: {missing}"
    unknown = sorted(set(table) - set(truth))
    assert not unknown, f"names in the README's presets table that `mlplab list` does not know: {unknown}"
    wrong = {n: (table[n], truth[n]) for n in truth if table[n] != truth[n]}
    assert not wrong, f"presets under another notebook than `mlplab list` says (README, list): {wrong}"


def test_make_demo_installs_the_package_without_the_test_and_ray_extras(tmp_path):
    """What the README says of `make demo`: mlplab alone, in a venv of its own stamp (make -n: nothing runs)."""
    root = README.parent
    out = subprocess.run(["make", "-n", "-B", "-C", str(root), "demo", f"VENV={tmp_path / 'venv'}"],
                         capture_output=True, text=True, check=True).stdout
    installs = [line for line in out.splitlines() if "pip install" in line and "torch" not in line and "--upgrade" not in line]
    assert installs == [f"{tmp_path / 'venv'}/bin/pip install -q -e ."], installs
    assert "mlplab course -o out/" in out
