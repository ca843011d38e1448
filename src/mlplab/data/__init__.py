"""Data: seeded generators for the course's and TensorFlow Playground's data sets, CSV and images."""

from .dataset import GENERATORS, Dataset, generator, make_dataset
from . import synthetic  # noqa: F401  (registers the generators)
from . import real  # noqa: F401  (registers digits, fashion-mnist, mnist)
from .real import fashion_or_digits, load, read_idx
from .tabular import load_csv

__all__ = ["GENERATORS", "Dataset", "fashion_or_digits", "generator", "load", "load_csv", "make_dataset", "read_idx"]
