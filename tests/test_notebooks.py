"""Every course notebook runs in a real ipykernel, and shows what it promises, offline.

Each notebook is executed once (nbclient, at MLPLAB_EPOCHS_SCALE=0.01) by a kernel running this
interpreter; the IOPub messages are recorded so that display updates can be checked, not only the
final outputs.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
PLOTLY_JSON = "application/vnd.plotly.v1+json"
# The Run each notebook shows as its summary (`text/html` with the run's name in bold).
RUN_SHOWN = {"000_001": "rotation-linear", "002": "moons", "003": "sine-poly", "004": "d2l-mlp-scratch"}
LIVE_CURVE_IN = ("002", "003", "004")
REMOTE = re.compile(r"cdn\.plot\.ly|cdnjs|jsdelivr|unpkg|<script[^>]*\bsrc=[\"']?https?:|import\s*[\"']https?:")


class RecordingClient(nbclient.NotebookClient):
    """Keeps every IOPub message, per cell, as the kernel sent it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.messages: dict[int, list[dict]] = {}

    def process_message(self, msg, cell, cell_index):
        self.messages.setdefault(cell_index, []).append(msg)
        return super().process_message(msg, cell, cell_index)


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory) -> str:
    """A kernelspec for this interpreter (the venv's python) in a private JUPYTER_PATH."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / "mlplab-test"
    spec.mkdir(parents=True)
    spec.joinpath("kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "mlplab tests", "language": "python",
        "env": {"MLPLAB_EPOCHS_SCALE": "0.01", "IPYTHONDIR": str(root / "ipython")},
    }))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(root))
        mp.setenv("JUPYTER_RUNTIME_DIR", str(root / "runtime"))
        mp.setenv("JUPYTER_PLATFORM_DIRS", "1")  # nbclient/jupyter_core warn otherwise; warnings are errors
        yield "mlplab-test"


@pytest.fixture(scope="module")
def all_executed(kernel_name, request) -> dict[str, tuple]:
    """Every notebook the selected tests ask for (`-k 003` runs one), executed once, in kernels running side
    by side (most of the time is imports)."""
    import asyncio

    wanted = {item.callspec.params["executed"].name for item in request.session.items
              if "executed" in getattr(getattr(item, "callspec", None), "params", {})}
    clients = {}
    for path in NOTEBOOKS:
        if path.name not in wanted:
            continue
        nb = nbformat.read(path, as_version=4)
        clients[path.name] = RecordingClient(nb, kernel_name=kernel_name, timeout=300, allow_errors=True,
                                             resources={"metadata": {"path": str(path.parent)}})

    async def execute_all():
        await asyncio.gather(*(client.async_execute() for client in clients.values()))

    asyncio.run(execute_all())
    return {name: (client.nb, client.messages) for name, client in clients.items()}


@pytest.fixture
def executed(request, all_executed):
    """(notebook after execution, IOPub messages per cell) for the notebook ``request.param``."""
    return all_executed[request.param.name]


def _key(path: Path) -> str:
    return path.name.split("_")[0] if not path.name.startswith("000_001") else "000_001"


def _outputs(nb):
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            yield index, out


def _plotlyjs() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def test_one_notebook_per_course_notebook():
    assert [_key(p) for p in NOTEBOOKS] == ["000_001", "002", "003", "004"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebooks_carry_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
    assert "MLPLAB_EPOCHS_SCALE" in code[0].source  # the documented way the tests shorten the runs


by_notebook = pytest.mark.parametrize("executed", NOTEBOOKS, ids=lambda p: p.stem, indirect=True)


@pytest.mark.slow
@by_notebook
def test_runs_in_a_real_kernel_without_errors_or_warnings(executed):
    nb, _ = executed
    errors = [f"cell {i}: {o.ename}: {o.evalue}" for i, o in _outputs(nb) if o.output_type == "error"]
    assert not errors
    stderr = [f"cell {i}: {o.text}" for i, o in _outputs(nb) if o.output_type == "stream" and o.name == "stderr"]
    assert not stderr


@pytest.mark.slow
@by_notebook
def test_every_figure_is_a_plotly_bundle_drawn_offline(executed):
    nb, _ = executed
    plotlyjs = _plotlyjs()
    figures, plotlyjs_at = 0, None
    for i, out in _outputs(nb):
        data = out.get("data", {})
        html = data.get("text/html", "")
        if plotlyjs in html and plotlyjs_at is None:
            plotlyjs_at = i  # the package's plotly.js, verbatim: classic Notebook draws the HTML with it
        if PLOTLY_JSON in data:
            figures += 1
            assert isinstance(data[PLOTLY_JSON]["data"], list) and data[PLOTLY_JSON]["data"], f"cell {i}: empty figure"
        if "Plotly.newPlot" in html:
            assert plotlyjs_at is not None and plotlyjs_at <= i, f"cell {i} draws with plotly.js before it is loaded"
        elif out.output_type in ("display_data", "execute_result"):
            assert PLOTLY_JSON not in data
    assert figures >= 2
    # Nothing fetched from outside: plotly.js's own source names URLs it never loads here (map tiles,
    # topojson), so it is removed before looking.
    text = json.dumps([o for _, o in _outputs(nb)]).replace(json.dumps(plotlyjs)[1:-1], "")
    assert not REMOTE.findall(text)


def _is_live_fit(message_or_output: dict) -> bool:
    """Notebook 003's LiveFit figure (titled "Fitted curve (live), epoch N")."""
    data = message_or_output.get("content", message_or_output).get("data", {})
    return "Fitted curve" in json.dumps(data.get(PLOTLY_JSON, {}).get("layout", {}).get("title", ""))


@pytest.mark.slow
@pytest.mark.parametrize("executed", [p for p in NOTEBOOKS if _key(p) in LIVE_CURVE_IN], ids=lambda p: p.stem,
                         indirect=True)
def test_live_curve_is_one_display_updated_in_place(executed):
    nb, messages = executed
    cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "LiveCurve()" in c.source]
    assert len(cells) == 1
    sent = messages[cells[0]]
    shown = [m for m in sent if m["msg_type"] == "display_data" and PLOTLY_JSON in m["content"]["data"]
             and not _is_live_fit(m)]  # notebook 003 draws its live fit beside the curve
    assert len(shown) == 1, "LiveCurve must show one figure"
    display_id = shown[0]["content"]["transient"]["display_id"]
    updates = [m for m in sent if m["msg_type"] == "update_display_data" and not _is_live_fit(m)]
    assert updates and all(m["content"]["transient"]["display_id"] == display_id for m in updates)
    first, last = shown[0]["content"]["data"][PLOTLY_JSON], updates[-1]["content"]["data"][PLOTLY_JSON]
    assert len(first["data"][0].get("y", [])) == 0  # shown before the first step ...
    assert len(last["data"][0]["y"]) > 0  # ... and the same display now holds the losses
    final = [o for o in nb.cells[cells[0]].outputs if PLOTLY_JSON in o.get("data", {}) and not _is_live_fit(o)]
    assert len(final) == 1 and final[0]["data"][PLOTLY_JSON] == last


@pytest.mark.slow
@by_notebook
def test_a_run_shows_its_html_summary(executed, request):
    nb, _ = executed
    name = RUN_SHOWN[_key(request.node.callspec.params["executed"])]
    shown = [o for _, o in _outputs(nb) if o.output_type == "execute_result"
             and f"<b>{name}</b>" in o.get("data", {}).get("text/html", "")]
    assert shown, f"no cell shows the Run {name!r} as HTML"


def test_offline_renderer_replaces_only_plotlys_own_kernel_default(monkeypatch):
    import plotly.io as pio

    from mlplab.viz import notebook

    monkeypatch.setattr(notebook, "in_kernel", lambda: True)
    monkeypatch.delenv("PLOTLY_RENDERER", raising=False)
    before = pio.renderers.default
    try:
        pio.renderers.default = "svg"  # the user's choice stays
        assert notebook.use_offline_renderer() is False and pio.renderers.default == "svg"
        pio.renderers.default = "plotly_mimetype"  # what plotly picks in a kernel is replaced
        assert notebook.use_offline_renderer() is True and pio.renderers.default == notebook.DEFAULT
    finally:
        pio.renderers.default = before


def _notebook(key: str) -> Path:
    return next(p for p in NOTEBOOKS if _key(p) == key)


@pytest.mark.slow
@pytest.mark.parametrize("executed", [_notebook("003")], ids=lambda p: p.stem, indirect=True)
def test_notebook_003_fits_live_while_training(executed):
    """As the course's cell redraws its fitted line while the polynomial trains: one display of the fit,
    updated in place during the run, from the untrained model to the trained one."""
    nb, messages = executed
    cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "LiveFit(" in c.source and "mlplab.run" in c.source]
    assert len(cells) == 1
    sent = messages[cells[0]]
    shown = [m for m in sent if m["msg_type"] == "display_data" and _is_live_fit(m)]
    assert len(shown) == 1, "LiveFit shows one figure"
    display_id = shown[0]["content"]["transient"]["display_id"]
    updates = [m for m in sent if m["msg_type"] == "update_display_data"
               and m["content"]["transient"]["display_id"] == display_id]
    assert len(updates) >= 2  # during the run (every 100 epochs) and at its end

    def fit(fig):
        title = fig["layout"]["title"]["text"]
        model = next(t for t in fig["data"] if t.get("name") == "model")
        return title, model["y"]

    (title0, y0), (title1, y1) = fit(shown[0]["content"]["data"][PLOTLY_JSON]), fit(updates[-1]["content"]["data"][PLOTLY_JSON])
    assert title0.endswith("epoch 0") and title1.endswith("epoch 100")  # 10000 epochs x MLPLAB_EPOCHS_SCALE 0.01
    assert y0 != y1  # the curve drawn moved as the model learned


@pytest.mark.slow
@pytest.mark.parametrize("executed", [_notebook("000_001")], ids=lambda p: p.stem, indirect=True)
def test_notebook_000_exercise_gives_every_variant_the_same_budget(executed):
    nb, _ = executed
    cell = next(c for c in nb.cells if c.cell_type == "code" and "exercise[variant] = " in c.source)
    text = "".join(o.text for o in cell.outputs if o.output_type == "stream")
    budgets = dict(re.findall(r"^(\S+)\s+(\d+) epochs", text, re.M))
    assert budgets == {v: "30" for v in ("linear", "mlp", "residual", "residual-bn")}, text  # 3000 x 0.01 each


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebook_says_which_seed_it_uses(path):
    """Every course notebook seeds differently from the presets (seed 0): each notebook says how."""
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "**Seeds.**" in text and "seed 0" in text.replace("`train.seed = 0`", "seed 0")


def _numbers(values) -> list[float]:
    """A trace's x or y as numbers: a list, or plotly's base64 typed array ({"dtype", "bdata"})."""
    import base64

    import numpy as np

    if isinstance(values, dict) and "bdata" in values:
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=np.dtype(values["dtype"])).tolist()
    return [float(v) for v in values]


@pytest.mark.slow
@pytest.mark.parametrize("executed", [_notebook("003")], ids=lambda p: p.stem, indirect=True)
def test_notebook_003_shows_spectral_bias_frequency_by_frequency(executed):
    """Beside the polynomial, the `spectral-bias` preset run through `mlplab.run` and its per-frequency panel:
    one curve per sine of the target (1, 4, 8 cycles per unit), each a point per recorded frame, starting at
    1 (nothing fitted at step 0); the markdown names the reference."""
    nb, _ = executed
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    poly = next(i for i in code if 'mlplab.run("sine-poly"' in nb.cells[i].source)
    [at] = [i for i in code if 'mlplab.run("spectral-bias"' in nb.cells[i].source]
    assert at == code[code.index(poly) + 1]  # the next experiment after the polynomial
    assert "Rahaman et al." in nb.cells[at - 1].source and "ICML 2019" in nb.cells[at - 1].source
    outputs = nb.cells[at].outputs
    assert not [o for o in outputs if o.output_type in ("error", "stream")]  # no traceback, no warning
    [fig] = [o["data"][PLOTLY_JSON] for o in outputs if PLOTLY_JSON in o.get("data", {})]
    assert fig["layout"]["title"]["text"].startswith("Residual amplitude at each frequency of the target")
    named = [t for t in fig["data"] if t.get("name")]
    assert [t["name"].split(" (")[0] for t in named] == ["1 cycle per unit", "4 cycles per unit", "8 cycles per unit"]
    for t in named:
        steps, share = _numbers(t["x"]), _numbers(t["y"])
        assert steps[0] == 0 and steps[-1] == 20  # 2000 epochs x MLPLAB_EPOCHS_SCALE 0.01, full batch
        assert len(share) == len(steps) == 21 and share[0] == pytest.approx(1.0)
        assert re.search(r"\((halved at step \d+|not halved)\)$", t["name"])


@pytest.mark.slow
@pytest.mark.parametrize("executed", [_notebook("003")], ids=lambda p: p.stem, indirect=True)
def test_notebook_003_draws_the_relu_fit_piece_by_piece(executed):
    """`sine-relu` beside the tanh fits: the count it prints is the one drawn (title, breakpoint ticks), within
    the bound of 11 pieces for 10 units."""
    nb, _ = executed
    [cell] = [c for c in nb.cells if c.cell_type == "code" and 'mlplab.run("sine-relu"' in c.source]
    text = "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")
    found = re.search(r"^(\d+) linear pieces, breakpoints at x = ([-\d., ]+);", text, re.M)
    assert found, text
    count, breakpoints = int(found.group(1)), [float(b) for b in found.group(2).split(", ")]
    assert 1 <= count <= 11 and len(breakpoints) == count - 1
    [fig] = [o["data"][PLOTLY_JSON] for o in cell.outputs if PLOTLY_JSON in o.get("data", {})]
    assert fig["layout"]["title"]["text"].startswith(f"{count} linear pieces on [-0.05, 1.05]")
    ticks = next(t for t in fig["data"] if t.get("name", "").startswith("breakpoints"))
    assert ticks["name"] == f"breakpoints ({count - 1})"
    assert [round(x, 3) for x in _numbers(ticks["x"])] == breakpoints
