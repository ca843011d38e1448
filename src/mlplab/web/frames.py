"""The page's frame, computed from the model: loss, metrics, the input-space view, the network
diagram's weights, hidden-unit maps, layer health and the exact linear-region count. Reads, never trains.
"""

from __future__ import annotations

import base64
import json
import math
import time
from typing import Any

import numpy as np
import torch

from ..data import Dataset
from ..specs import ModelSpec
from ..training import metrics as M

GRID = 100  # heatmap resolution of the input-space view
UNIT_GRID = 24  # resolution of each hidden unit's thumbnail
CURVE_POINTS = 200
MAPPING_LINES = 11  # the 2D->2D view maps an 11 x 11 grid of lines through the model
DIAGRAM_UNITS = 16  # the network diagram draws the first this many units of each layer (and their links)
MAX_REGION_UNITS = 256  # skip exact regions above this many hidden units (enumeration grows fast)
PIECEWISE_LINEAR = {"relu", "leaky_relu", "identity"}


def b64(a: np.ndarray) -> str:
    """float32 little-endian bytes in base64 (a Float32Array on the page)."""
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode("ascii")


def quantise(maps: np.ndarray) -> tuple[str, list[float], list[float]]:
    """Each row as 0..255 between its own min and max (the page colours every map by its own range, so
    this is all it needs; 10 x 16 unit maps stay ~120 kB): base64 bytes, the minima, the maxima."""
    if not maps.size:
        return "", [], []
    # float64: a diverging model's maps reach float32's limits, and their span must not overflow. The
    # range is that of the finite values; an infinite one sits at its end of the range, NaN at its start.
    m = maps.astype(np.float64)
    finite = np.isfinite(m)
    lo = np.where(finite, m, np.inf).min(1, keepdims=True)
    hi = np.where(finite, m, -np.inf).max(1, keepdims=True)
    empty = ~finite.any(1, keepdims=True)
    lo, hi = np.where(empty, 0.0, lo), np.where(empty, 0.0, hi)
    m = np.clip(np.where(np.isnan(m), lo, m), lo, hi)
    span = np.where(hi > lo, hi - lo, 1)
    q = np.rint((m - lo) / span * 255).astype(np.uint8)
    return base64.b64encode(q.tobytes()).decode("ascii"), [float(v) for v in lo[:, 0]], [float(v) for v in hi[:, 0]]


def to_json(message: dict[str, Any]) -> str:
    """A message for the page as JSON text. JSON has no inf or NaN: a diverged model's non-finite numbers
    (loss, norms, ranges) are sent as null, which the page shows as missing."""
    try:
        return json.dumps(message, allow_nan=False, default=_plain)
    except ValueError:  # a non-finite float somewhere: replace them all (rare, so not done for every frame)
        return json.dumps(_finite(message), allow_nan=False, default=_plain)


def _finite(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    if isinstance(v, np.ndarray):
        return _finite(v.tolist())
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    return v


def _plain(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if hasattr(v, "tolist"):
        return _finite(v.tolist())
    return str(v)


def regions_reason(spec: ModelSpec) -> str | None:
    """Why the exact linear regions cannot be drawn for this model (None: they can)."""
    from ..models.mlp import uses_features

    if spec.in_dim != 2:
        return "only for models of 2 inputs (this one has 1)"
    if spec.activation not in PIECEWISE_LINEAR:
        return f"{spec.activation} is not piecewise linear (ReLU, leaky ReLU or identity are)"
    if spec.norm == "layer":
        return "layer norm is not piecewise linear"
    if spec.poly_degree:
        return "polynomial features are not piecewise linear"
    if uses_features(spec):
        return (f"they do not apply with the input features {', '.join(spec.features)}: those bend the regions' "
                "edges in the input plane (only the raw inputs x1, x2 draw them)")
    units = sum(spec.hidden) * (2 if spec.residual else 1)
    if units > MAX_REGION_UNITS:
        return (f"{units} hidden units, above the cap of {MAX_REGION_UNITS} for exact enumeration "
                "(the count grows too fast to stay live)")
    return None


def view_kind(data: Dataset) -> str:
    if data.d_in == 1:
        return "curve"
    if data.task == "regression":
        return "mapping" if data.d_out == 2 else "heatmap"
    return "boundary"


class Frames:
    """Turns a model into the page's frame: loss, metrics, the input-space view, units, regions."""

    def __init__(self, data: Dataset, loss: str, box: list[tuple[float, float]]):
        self.data, self.loss_name, self.box = data, loss, box
        self.X = torch.from_numpy(np.ascontiguousarray(data.X, dtype=np.float32))
        self.Y = M.targets(data.y, data.task, loss)
        self.Xt = self.Yt = None
        if data.X_test is not None and len(data.X_test):
            self.Xt = torch.from_numpy(np.ascontiguousarray(data.X_test, dtype=np.float32))
            self.Yt = M.targets(data.y_test, data.task, loss)
        self.kind = view_kind(data)
        if data.d_in == 1:
            self.grid_x = np.linspace(box[0][0], box[0][1], CURVE_POINTS, dtype=np.float32)
            self.grid = torch.from_numpy(self.grid_x[:, None])  # (m, 1)
            # 1-D thumbnails are curves: UNIT_GRID^2 / 12 points across the input range
            self.unit_grid = torch.from_numpy(np.linspace(box[0][0], box[0][1], 48, dtype=np.float32)[:, None])
        else:
            self.axes = [np.linspace(lo, hi, GRID, dtype=np.float32) for lo, hi in box]
            xx, yy = np.meshgrid(*self.axes)  # rows follow y, columns follow x
            self.grid = torch.from_numpy(np.stack([xx.ravel(), yy.ravel()], 1))  # (g*g, 2)
            ux = [np.linspace(lo, hi, UNIT_GRID, dtype=np.float32) for lo, hi in box]
            uxx, uyy = np.meshgrid(*ux)
            self.unit_grid = torch.from_numpy(np.stack([uxx.ravel(), uyy.ravel()], 1))  # (u*u, 2)
        if self.kind == "mapping":
            t = np.linspace(0, 1, 40, dtype=np.float32)
            lines = []
            for c in np.linspace(0, 1, MAPPING_LINES, dtype=np.float32):
                (x0, x1), (y0, y1) = box
                lines.append(np.stack([x0 + t * (x1 - x0), np.full_like(t, y0 + c * (y1 - y0))], 1))
                lines.append(np.stack([np.full_like(t, x0 + c * (x1 - x0)), y0 + t * (y1 - y0)], 1))
            self.lines = torch.from_numpy(np.concatenate(lines))  # (2 * L * 40, 2)

    def display(self, out: torch.Tensor) -> torch.Tensor:
        """Model outputs as the page shows them: probabilities for classification."""
        if self.data.task == "binary" and self.loss_name == "bce_logits":
            return torch.sigmoid(out)
        if self.data.task == "multiclass":
            return torch.softmax(out, dim=-1)
        return out

    def loss_fn(self, out: torch.Tensor, Y: np.ndarray) -> float:
        """The training loss, computed as every Run's metrics compute it (`mlplab.training.metrics`)."""
        return M.loss_value(self.loss_name, out.numpy(), Y)

    def metric(self, out: torch.Tensor, Y: np.ndarray) -> float:
        if self.data.task == "regression":
            return M.r2(out.numpy(), Y)
        return M.accuracy(out.numpy(), Y, self.loss_name)

    @torch.no_grad()
    def frame(self, model: torch.nn.Module, *, units: bool, regions: dict[str, Any] | None) -> dict[str, Any]:
        was = model.training
        model.eval()
        try:
            out = model(self.X)
            f: dict[str, Any] = {"loss": _num(self.loss_fn(out, self.Y)), "metric_name": "R2" if self.data.task == "regression" else "accuracy"}
            f["metric"] = _num(self.metric(out, self.Y))
            if self.Xt is not None:
                out_t = model(self.Xt)
                f["test_loss"] = _num(self.loss_fn(out_t, self.Yt))
                f["test_metric"] = _num(self.metric(out_t, self.Yt))
            f["view"] = self._view(model, out)
            f["net"] = network(model)
            if units:
                f["units"] = self._units(model)
                f["health"] = self._health(model)
            if regions is not None:
                f["regions"] = regions
        finally:
            model.train(was)
        return f

    def _health(self, model: torch.nn.Module) -> list[dict[str, Any]]:
        """Layer health now (`mlplab.analysis.layer_health`): gradient and weight norms, activation mean and
        spread, dead ReLU units, on the training points; sent with the unit maps (twice a second)."""
        from ..analysis import layer_health

        with torch.enable_grad():
            rows = layer_health(model, self.X, torch.from_numpy(self.Y), self.loss_name)
        return [{k: (_num(v) if isinstance(v, float) else v) for k, v in row.items()} for row in rows]

    def _view(self, model: torch.nn.Module, out: torch.Tensor) -> dict[str, Any]:
        if self.kind == "curve":
            return {"kind": "curve", "y": b64(self.display(model(self.grid))[:, 0].numpy())}
        if self.kind == "mapping":
            return {"kind": "mapping", "pred": b64(out.numpy()), "lines": b64(model(self.lines).numpy())}
        g = self.display(model(self.grid))  # (g*g, d_out)
        if self.data.task == "multiclass":
            return {"kind": "classes", "z": b64(g.argmax(1).float().numpy()), "conf": b64(g.max(1).values.numpy())}
        return {"kind": "heatmap", "z": b64(g[:, 0].numpy())}

    def _units(self, model: torch.nn.Module) -> dict[str, Any]:
        """Each node's output over the input plane (a curve for 1-D data), for the diagram and the unit
        panel: the inputs (or input features), the first DIAGRAM_UNITS units of every hidden layer, the outputs."""
        maps: list[torch.Tensor] = []
        hooks = []
        acts = [m for m in model.modules() if type(m).__name__ in ("ReLU", "LeakyReLU", "Tanh", "Sigmoid", "Identity")
                and _is_hidden_activation(model, m)]
        def keep(_module: torch.nn.Module, _inputs: Any, output: torch.Tensor) -> None:
            maps.append(output.detach())

        for m in acts:
            hooks.append(m.register_forward_hook(keep))
        try:
            out = self.display(model(self.unit_grid))
        finally:
            for h in hooks:
                h.remove()
        inputs = _first_inputs(model, self.unit_grid)
        points = int(self.unit_grid.shape[0])
        shown = [m[:, :DIAGRAM_UNITS] for m in maps]
        every = torch.cat(shown, 1).T if shown else torch.zeros((0, points))  # (units, points)
        z, lo, hi = quantise(every.numpy())
        u = {"count": int(every.shape[0]), "layers": [int(m.shape[1]) for m in shown],
             "totals": [int(m.shape[1]) for m in maps], "size": UNIT_GRID, "dim": self.data.d_in,
             "points": points, "z8": z, "lo": lo, "hi": hi, "inputs": b64(inputs.T.numpy()),
             "outputs": b64(out.T.numpy()), "n_inputs": int(inputs.shape[1]), "n_outputs": int(out.shape[1])}
        spec = getattr(model, "spec", None)
        if spec is not None and spec.residual:  # the diagram's stream columns: what each next block reads
            u["streams"] = self._streams(model)
        return u

    def _streams(self, model: torch.nn.Module) -> dict[str, Any]:
        _, _, readers = _residual_plan(model)
        seen: list[torch.Tensor] = []
        hooks = [m.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach())) for m in readers]
        try:
            model(self.unit_grid)
        finally:
            for h in hooks:
                h.remove()
        shown = [m[:, :DIAGRAM_UNITS] for m in seen]
        every = torch.cat(shown, 1).T  # (stream units, points)
        z, lo, hi = quantise(every.numpy())
        return {"count": int(every.shape[0]), "layers": [int(m.shape[1]) for m in shown], "points": int(every.shape[1]),
                "z8": z, "lo": lo, "hi": hi}


def input_names(spec: ModelSpec) -> list[str]:
    """The diagram's input nodes: the features the model reads, or its raw inputs."""
    if spec.features:
        return list(spec.features)
    return ["x"] if spec.in_dim == 1 else [f"x{i + 1}" for i in range(spec.in_dim)]


def linears(model: torch.nn.Module) -> list[torch.nn.Linear]:
    return [m for m in model.modules() if isinstance(m, torch.nn.Linear)]


def _first_inputs(model: torch.nn.Module, X: torch.Tensor) -> torch.Tensor:
    """What the first Linear layer reads: the inputs, or the input features the model expands them into."""
    seen: list[torch.Tensor] = []
    lins = linears(model)
    if not lins:
        return X
    hook = lins[0].register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach()))
    try:
        model(X)
    finally:
        hook.remove()
    return seen[0] if seen else X


def _residual_plan(model: torch.nn.Module) -> tuple[list[tuple[str, int]], list[dict[str, Any]], list[torch.nn.Module]]:
    """A residual MLP's diagram, read off ``model.net`` in order: columns (name, units), link groups and
    the modules whose *input* is each stream column's value.

    A Linear (the stem, a projection between widths, the head) makes the next stream column; a residual
    block makes two, its inner units (``act(norm(fc1 s))``) and the stream after it (``s + fc2 inner``),
    with the skip drawn from the stream before. A norm between blocks is not a column: a stream column
    shows what the next block or Linear reads."""
    lins = linears(model)
    index = {id(m): i for i, m in enumerate(lins)}
    cols: list[tuple[str, int]] = [("in", lins[0].in_features)]
    groups: list[dict[str, Any]] = []
    consumers: list[torch.nn.Module] = []
    cur, blocks = 0, 0
    for m in model.net:
        if isinstance(m, torch.nn.Linear):
            consumers.append(m)
            cols.append((f"s{len(consumers) - 1}", m.out_features))
            groups.append({"from": cur, "to": len(cols) - 1, "layer": index[id(m)]})
        elif hasattr(m, "fc1") and hasattr(m, "fc2"):  # a residual block
            consumers.append(m)
            blocks += 1
            cols.append((f"b{blocks}", m.fc1.out_features))
            groups.append({"from": cur, "to": len(cols) - 1, "layer": index[id(m.fc1)]})
            cols.append((f"s{len(consumers) - 1}", m.fc2.out_features))
            groups.append({"from": len(cols) - 2, "to": len(cols) - 1, "layer": index[id(m.fc2)]})
            groups.append({"from": cur, "to": len(cols) - 1, "skip": True})
        else:
            continue
        cur = len(cols) - 1
    cols[-1] = ("out", cols[-1][1])
    return cols, groups, consumers[1:]  # the first consumer reads the inputs; the head writes the outputs


def network(model: torch.nn.Module) -> dict[str, Any] | None:
    """The diagram's links between the drawn units (the first DIAGRAM_UNITS of each column): for a plain
    MLP, every Linear layer's weights between consecutive layers; for a residual MLP, columns for the
    stream and each block's inner units, the blocks' two Linear layers and their skips (`_residual_plan`)."""
    spec = getattr(model, "spec", None)
    if spec is None:
        return None
    if spec.residual:
        cols, groups, _ = _residual_plan(model)
        sizes = [n for _, n in cols]
        shown = [min(n, DIAGRAM_UNITS) for n in sizes]
        shown[-1] = sizes[-1]
        lins = linears(model)
        out = []
        for g in groups:
            if not g.get("skip"):
                w = lins[g["layer"]].weight.detach()[: shown[g["to"]], : shown[g["from"]]].numpy()
                g = {**g, "w": b64(w)}
            out.append(g)
        return {"sizes": sizes, "shown": shown, "names": [name for name, _ in cols], "groups": out}
    lins = linears(model)
    sizes = [lins[0].in_features] + [m.out_features for m in lins]
    shown = [min(n, DIAGRAM_UNITS) for n in sizes]
    shown[-1] = sizes[-1]  # every output is drawn (at most MAX_CLASSES)
    groups = [{"from": i, "to": i + 1, "layer": i, "w": b64(lin.weight.detach()[: shown[i + 1], : shown[i]].numpy())}
              for i, lin in enumerate(lins)]
    return {"sizes": sizes, "shown": shown, "groups": groups}


def _is_hidden_activation(model: torch.nn.Module, m: torch.nn.Module) -> bool:
    """Activation modules between layers (not the output's Sigmoid/Softmax, not a norm's Identity)."""
    net = getattr(model, "net", None)
    if net is not None and len(net) and m is net[-1] and type(m).__name__ in ("Sigmoid", "Softmax"):
        return False
    if type(m).__name__ == "Identity":
        spec = getattr(model, "spec", None)
        return spec is not None and spec.activation == "identity" and not any(
            getattr(b, "norm", None) is m for b in model.modules())
    return True


def _num(v: Any) -> float | None:
    x = float(v)
    return x if math.isfinite(x) else None


def region_summary(model: torch.nn.Module, box: list[tuple[float, float]]) -> dict[str, Any]:
    """Exact linear-region count inside the view's box and the upper bound proven for the architecture
    (Serra et al. for plain nets, `geometry.bounds.residual_upper` for residual ones), with its name."""
    from ..geometry import linear_regions, upper_bound

    spec = model.spec
    started = time.perf_counter()
    regions = linear_regions(model, (tuple(box[0]), tuple(box[1])))
    units = sum(spec.hidden) * (2 if spec.residual else 1)
    bound, name = upper_bound(2, list(spec.hidden), residual=spec.residual, leaky=spec.activation == "leaky_relu")
    return {"count": len(regions), "bound": str(bound), "bound_name": name, "plain": not spec.residual,
            "units": units, "seconds": round(time.perf_counter() - started, 4)}
