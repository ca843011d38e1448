"""Data: seeded generators for the course's and TensorFlow Playground's data sets, CSV and images."""

from .dataset import GENERATORS, Dataset, generator, make_dataset
from . import synthetic  # noqa: F401  (registers the generators)
from .tabular import load_csv

__all__ = ["GENERATORS", "Dataset", "generator", "load_csv", "make_dataset"]
