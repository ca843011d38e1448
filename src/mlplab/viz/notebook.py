"""How figures display in a Jupyter kernel: plotly's MIME bundle plus an offline HTML fallback.

Never a CDN: plotly.js comes from the installed plotly package, in both representations.
"""

from __future__ import annotations

import os
import sys
from typing import Any

RENDERER = "mlplab_offline"
# Why two representations: JupyterLab (>= 3) and Notebook (>= 7) draw `application/vnd.plotly.v1+json`
# with the jupyterlab-plotly extension that the plotly wheel installs (plotly.js is bundled in it, so
# it works offline). Front ends without that extension (classic Notebook / nbclassic, nbconvert's
# HTML, viewers) fall back to `text/html`, which plotly's own "notebook" renderer would make with a
# MathJax <script> from a CDN and "notebook_connected" with plotly.js from cdn.plot.ly; ours inlines
# the package's plotly.js once per kernel and loads nothing from outside.
DEFAULT = f"plotly_mimetype+{RENDERER}"
# What plotly picks by itself in an ipykernel (plotly >= 6); only that choice is replaced, never a
# renderer the user set (PLOTLY_RENDERER or pio.renderers.default).
_PLOTLY_KERNEL_DEFAULTS = ("plotly_mimetype", "plotly_mimetype+notebook")

_plotlyjs_sent = False  # per kernel: plotly.js is inlined in the first figure's activation output


def offline_renderer() -> Any:
    """A plotly MIME renderer giving `text/html` with no CDN reference (see `DEFAULT` for why)."""
    from plotly.io import to_html
    from plotly.io.base_renderers import NotebookRenderer

    class OfflineNotebookRenderer(NotebookRenderer):
        def activate(self) -> None:
            # plotly's activate embeds plotly.js from the package (connected=False); plotly calls
            # it again for every `_repr_mimebundle_`, so send it once per kernel.
            global _plotlyjs_sent
            if not _plotlyjs_sent:
                super().activate()
                _plotlyjs_sent = True

        def to_mimebundle(self, fig_dict: dict) -> dict:
            html = to_html(fig_dict, config=self.config, auto_play=self.auto_play, include_plotlyjs=False,
                           include_mathjax=False, full_html=False, animation_opts=self.animation_opts,
                           default_width="100%", default_height=525, validate=False)
            return {"text/html": html}

    return OfflineNotebookRenderer(connected=False)


def use_offline_renderer(force: bool = False) -> bool:
    """Make figures display offline in this kernel; True when mlplab's renderer is the default now.

    Called when `mlplab.viz` is imported: inside an ipykernel it replaces plotly's own default (and
    only that); outside a kernel it does nothing and imports nothing. ``force=True`` sets it anyway.
    """
    if not force and (not in_kernel() or os.environ.get("PLOTLY_RENDERER")):
        return False
    import plotly.io as pio

    if RENDERER not in pio.renderers:
        pio.renderers[RENDERER] = offline_renderer()
    if force or pio.renderers.default in _PLOTLY_KERNEL_DEFAULTS:
        pio.renderers.default = DEFAULT
    return pio.renderers.default == DEFAULT


def in_kernel() -> bool:
    """True inside a Jupyter kernel (checked without importing IPython when it is not loaded)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return type(shell).__module__.startswith("ipykernel.")


def mime_bundle(fig: Any) -> dict:
    """The figure as the current default renderers display it (empty outside a notebook front end)."""
    return fig._repr_mimebundle_(validate=False)


def run_html(run: Any) -> str:
    """How a `Run` shows itself in a notebook (registered by `mlplab` on `Run`): a line of summary and the
    headline figure. plotly.js is inlined once per kernel (shared with the renderer above), never a CDN."""
    global _plotlyjs_sent
    from .animate import figure_for_run

    fig = figure_for_run(run)
    loss = f"{run.final_loss:.6g}" if run.final_loss is not None else "-"
    head = f"<p><b>{run.name}</b>: {run.status}, {run.steps} steps, final loss {loss}, engine {run.engine}</p>"
    if fig is None:
        return head
    body = fig.to_html(full_html=False, include_plotlyjs=not _plotlyjs_sent, auto_play=False)
    _plotlyjs_sent = True
    return head + body
