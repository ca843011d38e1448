"""The way back from Python to the page: an experiment (or a Run) as a playground URL.

The page keeps its whole configuration in the URL's fragment, ``#`` + the URL-encoded JSON that
`config.parse_config` reads; this module writes that JSON from an `Experiment`, so
``mlplab.playground_url(...)``, ``mlplab serve --open NAME|FILE.toml`` and the page's own links agree.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from ..errors import SpecError
from ..specs import Experiment, ModelSpec, validate

# What the page has controls for, per section (the rest of a spec must be at its default or the
# page could not show it faithfully).
DATA_FIELDS = ("name", "n", "noise", "seed", "test_fraction")
MODEL_FIELDS = ("hidden", "activation", "residual", "norm", "init", "leaky_slope", "features")
TRAIN_FIELDS = ("optimizer", "lr", "momentum", "batch_size", "weight_decay", "l1", "loss", "seed", "engine")
# Left out at these values (older pages lack them) unless the preset the page starts from says otherwise.
OPTIONAL = {"features": [], "l1": 0.0, "momentum": 0.0, "engine": "auto"}
# Decided by the data and the loss on the page, not chosen there.
DERIVED = {"in_dim", "out_dim", "out_activation"}


def playground_config(target: Any) -> dict[str, Any]:
    """The page's configuration for an experiment, a preset name, a TOML/JSON spec dict or a Run."""
    exp = _experiment(target)
    if exp.kind != "train":
        raise SpecError("kind", "a training experiment (the playground trains live)", exp.kind)
    from .config import EXCLUDED_DATA

    if exp.data.name in EXCLUDED_DATA or exp.model.in_dim not in (1, 2):
        raise SpecError("data.name", "a 1-D or 2-D data set the playground can draw", exp.data.name)
    from ..presets import PRESETS
    from .config import playground_presets

    # A preset carries what the page has no control for (norm position, init scales, ...): start from the
    # experiment's own preset, else from the first one that agrees on those fields, else from no preset
    # (the closest such preset over all fields, so that a page's own experiment maps back to its preset)
    names = [p["name"] for p in playground_presets()]
    candidates = ([exp.name] if exp.name in names else []) + [n for n in names if PRESETS[n].data.name == exp.data.name]
    fitting = [n for n in candidates if not _hidden_fields(exp, PRESETS[n])]
    preset = min(fitting, key=lambda n: (_distance(exp, PRESETS[n]), n != exp.name)) if fitting else None
    base = PRESETS[preset] if preset else Experiment()
    hidden = _hidden_fields(exp, base)
    if hidden:
        field, value = hidden[0]
        raise SpecError(field, "what the page can show (the playground has no control for it)", value,
                        hint="train it with `mlplab run` instead")

    def section(name: str, fields: tuple[str, ...]) -> dict[str, Any]:
        spec, ref = getattr(exp, name), getattr(base, name)
        values = {f: getattr(spec, f) for f in fields}
        return {k: v for k, v in values.items()
                if v is not None and not (k in OPTIONAL and v == OPTIONAL[k] == getattr(ref, k))}

    config = {
        **({"preset": preset} if preset else {}),
        "data": section("data", DATA_FIELDS),
        "model": section("model", MODEL_FIELDS),
        "train": section("train", TRAIN_FIELDS),
        "stop": {"epochs": exp.train.epochs},
    }
    _check_faithful(exp, config)
    return config


def _check_faithful(exp: Experiment, config: dict[str, Any]) -> None:
    """The page must rebuild the same experiment from the config; name the first field it would not."""
    from .config import parse_config

    page = validate(Experiment, parse_config(config).experiment, "page")
    for section, fields in (("data", DATA_FIELDS), ("train", TRAIN_FIELDS + ("epochs",)),
                            ("model", tuple(f for f in ModelSpec.model_fields if f not in DERIVED))):
        for f in fields:
            want, got = getattr(getattr(exp, section), f), getattr(getattr(page, section), f)
            if want != got:
                raise SpecError(f"{section}.{f}", "what the playground page can set", want,
                                hint=f"the page would train with {got!r}; use `mlplab run` for this experiment")


def playground_url(target: Any, host: str = "127.0.0.1", port: int = 8000) -> str:
    """``http://HOST:PORT/#CONFIG``: the playground page with ``target`` loaded (see `playground_config`)."""
    host, port = _address(host, port)  # before the experiment is resolved: a bad address is named first
    text = json.dumps(playground_config(target), separators=(",", ":"), sort_keys=True)
    return f"http://{_host(host)}:{port}/#{quote(text, safe='')}"


def _address(host: Any, port: Any) -> tuple[str, int]:
    """``host`` and ``port`` as a URL can hold them, or a SpecError naming the argument."""
    if not isinstance(host, str) or not host.strip() or any(c in host for c in "/?#@ \t\n") or len(host) > 253:
        raise SpecError("host", "a host name or address of the server (127.0.0.1, localhost, ::1)", host)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise SpecError("port", "a port number between 1 and 65535", port)
    return host.strip(), port


def config_from_url(url: str) -> dict[str, Any]:
    """The configuration a playground URL carries (its fragment), as the page reads it."""
    fragment = urlsplit(url).fragment
    if not fragment:
        raise SpecError("url", "a playground URL with a #configuration", url)
    try:
        config = json.loads(unquote(fragment))
    except ValueError:
        raise SpecError("url", "a fragment holding the page's JSON configuration", fragment[:80]) from None
    if not isinstance(config, dict):
        raise SpecError("url", "a JSON object after #", type(config).__name__)
    return config


def _experiment(target: Any) -> Experiment:
    from ..api import resolve

    spec = getattr(target, "spec", None)
    if spec is not None and not isinstance(target, (dict, Experiment)):  # a Run
        spec = {k: v for k, v in spec.items() if k in Experiment.model_fields}
        return validate(Experiment, spec, "run.spec")
    return resolve(target)


def _hidden_fields(exp: Experiment, base: Experiment) -> list[tuple[str, Any]]:
    """(field, value) of ``exp`` that the page cannot set and that differ from ``base``."""
    shown = {"data": DATA_FIELDS, "model": MODEL_FIELDS + tuple(DERIVED),
             "train": TRAIN_FIELDS + ("epochs", "frames", "grid", "snapshots")}
    out = []
    for section, fields in shown.items():
        spec, ref = getattr(exp, section), getattr(base, section)
        out += [(f"{section}.{f}", getattr(spec, f)) for f in type(spec).model_fields
                if f not in fields and getattr(spec, f) != getattr(ref, f)]
    return out


def _distance(exp: Experiment, base: Experiment) -> int:
    """How many fields of data, model and train differ (what is recorded aside)."""
    return sum(getattr(getattr(exp, sec), f) != getattr(getattr(base, sec), f)
               for sec in ("data", "model", "train") for f in type(getattr(exp, sec)).model_fields
               if f not in ("frames", "grid", "snapshots"))


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
