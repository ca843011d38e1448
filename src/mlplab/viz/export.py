"""Files from figures: offline HTML, PNG, and animations as GIF or MP4.

Images come from kaleido (1.x), which drives a local Chromium; all frames of an animation render in
one browser session. GIF/MP4 frames are assembled with imageio (MP4 through imageio-ffmpeg's binary).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from pathlib import Path
from typing import Any

from ..errors import MlplabError, SpecError

FORMATS = ("html", "gif", "mp4")
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
# Tabs rendering at once in the one browser: 3 renders 101 frames ~1.5x faster than 1 on 2 cores.
RENDER_TABS = 3
MACRO_BLOCK = 16  # H.264 encoders work on 16-pixel blocks; sizes that are multiples need no resizing
INSTALL_HINT = (
    "install Chromium (Debian/Ubuntu: `apt-get install -y chromium`) or point BROWSER_PATH at a Chrome/Chromium "
    "binary, and the exporters (`pip install 'mlplab[export]'`: kaleido>=1, imageio, imageio-ffmpeg)"
)


def find_browser() -> str:
    """Path of the Chromium/Chrome that kaleido should drive: $BROWSER_PATH, else the first on $PATH."""
    env = os.environ.get("BROWSER_PATH")
    if env:
        if Path(env).is_file() and os.access(env, os.X_OK):
            return env
        raise MlplabError(f"BROWSER_PATH={env!r} is not an executable file; {INSTALL_HINT}")
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    raise MlplabError(f"static image export needs a Chromium browser, and none was found; {INSTALL_HINT}")


def _kaleido():
    try:
        import kaleido
    except ImportError:
        raise MlplabError(f"static image export needs the kaleido package; {INSTALL_HINT}") from None
    return kaleido


def _run_async(make_coro) -> Any:
    """Run a coroutine to completion, also from inside a running event loop (Jupyter): in a thread then."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make_coro())
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = asyncio.run(make_coro())
        except BaseException as exc:  # handed back to the caller's thread below
            box["error"] = exc

    t = threading.Thread(target=work)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def render_pngs(figures: list[dict], width: int, height: int, scale: float = 1.0) -> list[bytes]:
    """PNG bytes of each figure dict, all rendered in one Chromium session (one browser start)."""
    kaleido = _kaleido()
    browser = find_browser()
    opts = {"format": "png", "width": width, "height": height, "scale": scale}

    tabs = max(1, min(RENDER_TABS, len(figures)))

    async def render() -> list[bytes]:
        # mathjax=False: its default is a CDN script, and nothing here needs TeX.
        async with kaleido.Kaleido(n=tabs, mathjax=False, path=browser) as k:
            return list(await asyncio.gather(*(k.calc_fig(f, opts=opts) for f in figures)))  # in order

    for attempt in range(2):
        try:
            return _run_async(render)
        except MlplabError:
            raise
        except Exception as exc:  # choreographer/kaleido failures: say what to install, keep the cause
            # On a busy machine kaleido can evaluate before its page script has loaded ("kaleido_scopes is
            # not defined"): a start-up race, not a missing install, so one fresh browser start is tried.
            if attempt == 0 and "kaleido_scopes" in str(exc):
                continue
            raise MlplabError(f"rendering with kaleido/Chromium ({browser}) failed: {exc}; {INSTALL_HINT}") from exc
    raise AssertionError("unreachable")  # pragma: no cover


def _size(layout: dict, width: int | None, height: int | None) -> tuple[int, int]:
    w = int(width or layout.get("width") or 640)
    h = int(height or layout.get("height") or 560)
    return w, h


def frame_figures(fig: Any) -> list[dict]:
    """One static figure dict per animation frame: the frame's traces merged into the base, no controls."""
    base = fig.to_dict() if hasattr(fig, "to_dict") else dict(fig)
    layout = {k: v for k, v in base.get("layout", {}).items() if k not in ("updatemenus", "sliders")}
    margin = dict(layout.get("margin") or {})
    margin["b"] = min(margin.get("b", 60), 60)  # the controls' room is not needed in a still image
    layout["margin"] = margin
    title = (layout.get("title") or {}).get("text") or ""
    out = []
    for frame in base.get("frames") or []:
        data = [dict(t) for t in base["data"]]
        targets = frame.get("traces") or list(range(len(frame.get("data", []))))
        for i, trace in zip(targets, frame.get("data", [])):
            merged = dict(data[i])
            for key, value in trace.items():
                if isinstance(value, dict) and isinstance(merged.get(key), dict):
                    merged[key] = {**merged[key], **value}  # e.g. marker.color only
                else:
                    merged[key] = value
            data[i] = merged
        label = frame.get("name", "")
        lay = {**layout, **(frame.get("layout") or {})}
        lay["title"] = {**(layout.get("title") or {}), "text": f"{title} — {label}" if title else str(label)}
        out.append({"data": data, "layout": lay})
    return out


def still_figure(fig: Any, frame: int | str | None = None) -> dict:
    """A static figure dict of ``fig`` without controls: for an animation, one frame merged into it.

    ``frame``: an index (negative counts from the end) or a frame's name; default the last frame, the
    trained result, which is what a picture of a training run should show.
    """
    spec = fig.to_dict() if hasattr(fig, "to_dict") else dict(fig)
    frames = spec.get("frames") or []
    if not frames:
        if frame is not None:
            raise SpecError("frame", "no frame (the figure is not animated)", frame)
        spec = {k: v for k, v in spec.items() if k != "frames"}
        spec["layout"] = {k: v for k, v in spec.get("layout", {}).items() if k not in ("updatemenus", "sliders")}
        return spec
    names = [f.get("name") for f in frames]
    if frame is None:
        i = len(frames) - 1
    elif isinstance(frame, str):
        if frame not in names:
            raise SpecError("frame", f"a frame name ({names[0]} ... {names[-1]})", frame)
        i = names.index(frame)
    elif isinstance(frame, int) and not isinstance(frame, bool) and -len(frames) <= frame < len(frames):
        i = frame % len(frames)
    else:
        raise SpecError("frame", f"a frame index in [-{len(frames)}, {len(frames) - 1}] or a frame name", frame)
    return frame_figures({**spec, "frames": [frames[i]]})[0]


def export_png(fig: Any, path: str | os.PathLike, *, width: int | None = None, height: int | None = None,
               scale: float = 1.0, frame: int | str | None = None) -> Path:
    """Write ``fig`` as a PNG without controls; returns the path.

    An animation is drawn at ``frame`` (see `still_figure`): by default its last frame, the trained result.
    """
    spec = still_figure(fig, frame)
    w, h = _size(spec["layout"], width, height)
    (png,) = render_pngs([spec], w, h, scale)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(png)
    return out


def export_animation(fig_or_run: Any, path: str | os.PathLike, fmt: str | None = None, fps: float = 10,
                     *, width: int | None = None, height: int | None = None) -> Path:
    """Write an animation as offline HTML (plotly.js inlined), GIF or MP4; returns the path.

    ``fig_or_run``: an animated figure, or a `Run` (animated with `mlplab.viz.animate`). ``fmt``: one of
    html, gif, mp4; default from the file's suffix. ``fps``: frames per second of the GIF/MP4.
    """
    out = Path(path)
    fmt = (fmt or out.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise SpecError("fmt", f"one of {', '.join(FORMATS)} (or a path ending in one)", fmt or str(path))
    if not (isinstance(fps, (int, float)) and 0 < fps <= 120):
        raise SpecError("fps", "a number of frames per second in (0, 120]", fps)
    fig = fig_or_run
    if not hasattr(fig, "to_dict"):
        from .animate import animate

        fig = animate(fig_or_run)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "html":
        fig.write_html(out, include_plotlyjs=True, full_html=True, auto_play=False,
                       config={"displaylogo": False})
        return out
    _assemble(_render_frames(fig, width, height), out, fmt, fps)
    return out


def export_animations(fig: Any, paths: list[str | os.PathLike], fps: float = 10, *,
                      width: int | None = None, height: int | None = None) -> list[Path]:
    """Write one animation to several files (html, gif, mp4 by suffix), rendering the frames only once."""
    outs = [Path(p) for p in paths]
    videos = [p for p in outs if p.suffix.lstrip(".").lower() in ("gif", "mp4")]
    for p in outs:
        if p not in videos:
            export_animation(fig, p, fps=fps, width=width, height=height)
    if videos:
        if not (isinstance(fps, (int, float)) and 0 < fps <= 120):
            raise SpecError("fps", "a number of frames per second in (0, 120]", fps)
        pngs = _render_frames(fig, width, height)
        for p in videos:
            p.parent.mkdir(parents=True, exist_ok=True)
            _assemble(pngs, p, p.suffix.lstrip(".").lower(), fps)
    return outs


def _render_frames(fig: Any, width: int | None, height: int | None) -> list[bytes]:
    """Every frame of an animated figure as PNG bytes, in one browser session."""
    stills = frame_figures(fig)
    if not stills:
        raise SpecError("fig_or_run", "an animated figure (with frames)", "a figure without frames")
    w, h = _size(stills[0]["layout"], width, height)
    w, h = (-(-w // MACRO_BLOCK) * MACRO_BLOCK, -(-h // MACRO_BLOCK) * MACRO_BLOCK)  # round up to blocks
    return render_pngs(stills, w, h)


def _assemble(pngs: list[bytes], out: Path, fmt: str, fps: float) -> None:
    try:
        import imageio.v3 as iio
    except ImportError:
        raise MlplabError(f"GIF/MP4 export needs imageio; {INSTALL_HINT}") from None
    frames = [iio.imread(p)[..., :3] for p in pngs]  # RGBA -> RGB, (h, w, 3) uint8
    if fmt == "gif":
        iio.imwrite(out, frames, extension=".gif", duration=1000.0 / fps, loop=0)
        return
    try:
        import imageio_ffmpeg  # noqa: F401  (provides the ffmpeg binary)
    except ImportError:
        raise MlplabError(f"MP4 export needs imageio-ffmpeg; {INSTALL_HINT}") from None
    import imageio.v2 as iio2

    writer = iio2.get_writer(out, format="FFMPEG", mode="I", fps=fps, codec="libx264",
                             pixelformat="yuv420p", macro_block_size=MACRO_BLOCK)
    try:
        for f in frames:
            writer.append_data(f)
    finally:
        writer.close()
