"""Real image data as Datasets: Fashion-MNIST / MNIST (files read by `idx.py`, fetched by `download.py`) and
scikit-learn's bundled 8x8 digits. Images come back flattened, scaled to [0, 1] and standardised
with statistics of the training split only. CSV and synthetic sets live elsewhere.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataFileError, SpecError
from ..specs import DataSpec
from .dataset import Dataset, generator
from .download import ENV_DATA, IDX_FILES, SUBFOLDERS, TITLES, _missing_error, _name, data_root, download, find_files
from .idx import read_idx

CLASS_NAMES: dict[str, list[str]] = {
    "fashion-mnist": [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ],
    "mnist": [str(d) for d in range(10)],
    "digits": [str(d) for d in range(10)],
}
PIXEL_MAX = {"idx": 255.0, "digits": 16.0}  # brightest pixel value of each source
# Digits has no official test split: hold out this seeded share of the 1797 images.
DIGITS_TEST_FRACTION = 0.2
STATS_BLOCK_VALUES = 1 << 22



# ---------------------------------------------------------------------------------------------
# Loading into a Dataset.


def load(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    val_fraction: float = 0.1,
    seed: int = 0,
    download: bool = True,
    normalize: bool = True,
    progress: bool | None = None,
    base_url: str | None = None,
    n: int | None = None,
    test_fraction: float | None = None,
) -> Dataset:
    """Load ``"fashion-mnist"``, ``"mnist"`` or ``"digits"`` as a multiclass `Dataset`.

    X: (n, 784) float32 for the IDX sets ((n, 64) for digits): pixels scaled to [0, 1], then (when
    ``normalize``) standardised by one mean and std of the training split, kept in ``params``.
    The validation split is a seeded ``val_fraction`` of the training files; the test split is the
    t10k files (digits: a seeded ``test_fraction``, default 0.2, of all images). ``n`` keeps a
    seeded subset of that many training rows (validation and test splits untouched).
    """
    key = _name(name)
    _check_fraction("val_fraction", val_fraction)
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise SpecError("n", "a positive number of training rows or None", n)
    if key == "digits":
        tf = DIGITS_TEST_FRACTION if test_fraction is None else test_fraction
        _check_fraction("test_fraction", tf)
        images, labels, tests, sources = _digits(tf, seed)
        scale, shape = PIXEL_MAX["digits"], (8, 8)
    else:
        if test_fraction is not None:
            expected = f"None for {TITLES[key]} (its test split is the t10k files)"
            raise SpecError("test_fraction", expected, test_fraction)
        images, labels, tests, sources = _idx_arrays(key, data_dir, download, progress, base_url)
        scale, shape = PIXEL_MAX["idx"], (28, 28)

    rng = np.random.default_rng(seed)
    train_idx, val_idx = _carve(len(labels), val_fraction, rng)
    if n is not None and n < len(train_idx):
        train_idx = np.sort(rng.choice(train_idx, size=n, replace=False))

    flat = images.reshape(len(images), -1)  # (N, h*w)
    X = flat[train_idx].astype(np.float32) / np.float32(scale)
    X_val = flat[val_idx].astype(np.float32) / np.float32(scale)
    X_test = tests[0].reshape(len(tests[0]), -1).astype(np.float32) / np.float32(scale)
    mean, std = 0.0, 1.0
    if normalize:
        mean, std = training_stats(X)
        for a in (X, X_val, X_test):  # in place: the full training set is 188 MB of float32
            a -= np.float32(mean)
            a /= np.float32(std)
    params = {
        "source": sources,
        "val_fraction": val_fraction,
        "seed": seed,
        "normalize": normalize,
        "pixel_max": scale,
        "mean": mean,
        "std": std,
    }
    return Dataset(
        X=X,
        y=labels[train_idx].astype(np.int64),
        task="multiclass",
        name=key,
        params=params,
        X_val=X_val if len(val_idx) else None,
        y_val=labels[val_idx].astype(np.int64) if len(val_idx) else None,
        X_test=X_test,
        y_test=tests[1].astype(np.int64),
        n_classes=10,
        class_names=list(CLASS_NAMES[key]),
        image_shape=shape,
    )


def training_stats(X: np.ndarray) -> tuple[float, float]:
    """One mean and one std over every pixel of the training rows X: (n, d). Computed in float64."""
    # Two passes over row blocks keep the float64 temporaries small (Fashion-MNIST is 188 MB of float32).
    rows = max(1, STATS_BLOCK_VALUES // max(1, X.shape[1]))
    count = X.size
    if count == 0:
        return 0.0, 1.0
    mean = sum(float(X[i : i + rows].sum(dtype=np.float64)) for i in range(0, len(X), rows)) / count
    sq = sum(float(np.square(X[i : i + rows].astype(np.float64) - mean).sum()) for i in range(0, len(X), rows))
    std = math.sqrt(sq / count)
    # A constant training set (all-black images) would divide by zero; leave its scale alone.
    return mean, (std if std > 0 else 1.0)


def _carve(n: int, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Seeded disjoint (kept, held) row indices; held is ``fraction`` of n, at least one row when > 0."""
    order = rng.permutation(n)
    k = 0 if fraction == 0 else min(max(n - 1, 0), max(1, int(round(n * fraction))))
    return np.sort(order[k:]), np.sort(order[:k])


def _idx_arrays(name: str, data_dir: Any, allow_download: bool, progress: bool | None, base_url: str | None):
    files = find_files(name, data_dir)
    missing = [role for role, p in files.items() if p is None]
    if missing:
        if not allow_download:
            raise _missing_error(name, data_dir, missing, "download=False, so nothing was fetched")
        files = download(name, data_dir, base_url=base_url, progress=progress)
    arrays = {role: read_idx(p) for role, p in files.items()}  # type: ignore[arg-type]
    for split in ("train", "test"):
        img, lab = f"{split}_images", f"{split}_labels"
        _check_pair(files[img], arrays[img], files[lab], arrays[lab])
    sources = {role: str(p) for role, p in files.items()}
    return arrays["train_images"], arrays["train_labels"], (arrays["test_images"], arrays["test_labels"]), sources


def _check_pair(img_path: Any, images: np.ndarray, lab_path: Any, labels: np.ndarray) -> None:
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        got = f"{images.dtype.name} {images.shape}"
        raise DataFileError(img_path, f"expected uint8 images of shape (n, 28, 28), got {got}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DataFileError(lab_path, f"expected uint8 labels of shape (n,), got {labels.dtype.name} {labels.shape}")
    if len(images) == 0:
        raise DataFileError(img_path, "holds 0 images", hint="the file is empty of data; download it again")
    if len(labels) != len(images):
        raise DataFileError(
            lab_path, f"holds {len(labels)} labels but {Path(str(img_path)).name} holds {len(images)} images"
        )
    if len(labels) and labels.max() > 9:
        raise DataFileError(lab_path, f"labels must be 0..9, found {int(labels.max())}")


def _digits(test_fraction: float, seed: int):
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images.astype(np.float32)  # (1797, 8, 8), values 0..16
    labels = bunch.target.astype(np.int64)
    # A separate stream for the test carve, so the validation carve (seeded by `seed`) is independent.
    keep, test = _carve(len(labels), test_fraction, np.random.default_rng([seed, 1]))
    return images[keep], labels[keep], (images[test], labels[test]), {"source": "sklearn.datasets.load_digits"}


def _check_fraction(param: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise SpecError(param, "a number in [0, 1)", value)


# ---------------------------------------------------------------------------------------------
# For the d2l presets: Fashion-MNIST if it is here already, else digits.


def fashion_or_digits(
    data_dir: str | os.PathLike | None = None, *, seed: int = 0, val_fraction: float = 0.1
) -> tuple[Dataset, str]:
    """Fashion-MNIST when its four files are present locally (never downloads), else digits.

    Returns the data set and one sentence saying which was used and why.
    """
    files = find_files("fashion-mnist", data_dir)
    missing = [IDX_FILES[r] for r, p in files.items() if p is None]
    where = data_root(data_dir)
    if not missing:
        try:
            ds = load("fashion-mnist", data_dir, seed=seed, val_fraction=val_fraction, download=False)
        except DataFileError as exc:
            why = f"its files under {where} could not be read ({exc})"
        else:
            return ds, f"Using Fashion-MNIST from {Path(ds.params['source']['train_images']).parent}."
    else:
        what = "no Fashion-MNIST files" if len(missing) == len(IDX_FILES) else ", ".join(missing)
        why = f"{what} found under {where}"
    ds = load("digits", seed=seed, val_fraction=val_fraction)
    return ds, (
        f"Using scikit-learn's 8x8 digits instead of Fashion-MNIST: {why}; put the four Fashion-MNIST "
        f"files in {where / SUBFOLDERS['fashion-mnist'][0]}/ (or set {ENV_DATA}) to use it."
    )


# ---------------------------------------------------------------------------------------------
# Registry entries: make_dataset("digits"), make_dataset("fashion-mnist", params={"data_dir": ...}).

SPEC_PARAMS = ("data_dir", "val_fraction", "download", "normalize", "base_url", "progress")


def _from_spec(name: str, spec: DataSpec) -> Dataset:
    extra = set(spec.params) - set(SPEC_PARAMS)
    if extra:
        raise SpecError(f"data.params.{sorted(extra)[0]}", f"one of {', '.join(SPEC_PARAMS)}", sorted(extra)[0])
    if spec.noise is not None:
        raise SpecError("data.noise", f"None for {TITLES[name]} (real images take no noise)", spec.noise)
    p = dict(spec.params)
    kwargs: dict[str, Any] = {"seed": spec.seed, "n": spec.n}
    for key in ("val_fraction", "download", "normalize", "base_url", "progress"):
        if key in p:
            kwargs[key] = p[key]
    if name == "digits" and spec.test_fraction:
        kwargs["test_fraction"] = spec.test_fraction
    return load(name, p.get("data_dir"), **kwargs)


@generator("digits")
def digits(spec: DataSpec) -> Dataset:
    """scikit-learn's 1797 8x8 digits with seeded train/val/test splits (offline)."""
    return _from_spec("digits", spec)


@generator("fashion-mnist")
def fashion_mnist(spec: DataSpec) -> Dataset:
    """Fashion-MNIST from local IDX files, downloaded when absent (notebook 004's data)."""
    return _from_spec("fashion-mnist", spec)


@generator("mnist")
def mnist(spec: DataSpec) -> Dataset:
    """MNIST handwritten digits from local IDX files, downloaded when absent."""
    return _from_spec("mnist", spec)


@generator("fashion-or-digits")
def fashion_or_digits_generator(spec: DataSpec) -> Dataset:
    """The d2l presets' data: Fashion-MNIST when its files are here, else digits; ``params["note"]`` says which."""
    p = dict(spec.params)
    extra = set(p) - {"data_dir", "val_fraction"}
    if extra:
        raise SpecError(f"data.params.{sorted(extra)[0]}", "one of data_dir, val_fraction", sorted(extra)[0])
    ds, note = fashion_or_digits(p.get("data_dir"), seed=spec.seed, val_fraction=p.get("val_fraction", 0.1))
    ds.params = {**ds.params, "note": note}
    return ds
