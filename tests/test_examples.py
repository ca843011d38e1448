"""Every example script runs (in quick mode) and prints what it promises."""

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("nb*.py"))


def test_there_is_one_example_per_notebook():
    assert [p.name[:5] for p in EXAMPLES] == ["nb000", "nb001", "nb002", "nb003", "nb004"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs(path, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLPLAB_QUICK", "1")
    monkeypatch.setenv("MLPLAB_EXAMPLES_OUT", str(tmp_path))
    monkeypatch.syspath_prepend(str(path.parent))
    sys.modules.pop("_common", None)
    runpy.run_path(str(path), run_name="__main__")
    assert capsys.readouterr().out.strip()
