"""The result of a region enumeration: `Region` and `Regions`, convex polygons with their patterns and maps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np


@dataclass(frozen=True)
class Region:
    """One linear region: a convex polygon on which the network is ``A @ x + c``.

    vertices: (k, 2) counter-clockwise, in the plane's coordinates.
    pattern: on (1) / off (0) per unit, over all ReLU-like layers in order.
    A: (d_out, 2), c: (d_out,) — the logits (before a final sigmoid/softmax).
    """

    vertices: np.ndarray
    pattern: tuple[int, ...]
    A: np.ndarray
    c: np.ndarray
    area: float


@dataclass
class Regions(Sequence[Region]):
    """All linear regions of a network on a 2-D domain; ``len()`` is the count.

    Flat storage: ``xy`` (total_vertices, 2), ``counts`` (R,) vertices per region, ``pattern_bits``
    (R, n_units) bool, ``A`` (R, d_out, 2), ``c`` (R, d_out). ``slivers`` counts the cuts that were
    not made because they would have been thinner than ``tol`` (relative, see ``TOL``): such a sliver
    is merged into its neighbour. For a slice, ``origin`` (d_in,) and ``basis`` (d_in, 2) map plane
    coordinates u to inputs ``origin + basis @ u`` (orthonormal, so areas are in the input metric).
    """

    xy: np.ndarray
    counts: np.ndarray
    pattern_bits: np.ndarray
    A: np.ndarray
    c: np.ndarray
    box: tuple[tuple[float, float], tuple[float, float]]
    tol: float
    slivers: int
    layer_names: list[str]
    layer_widths: list[int]
    out_activation: str = "none"
    origin: np.ndarray | None = None
    basis: np.ndarray | None = None
    _starts: np.ndarray = field(init=False, repr=False)
    _areas: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]]).astype(np.int64)
        self._areas = _polygon_areas(self.xy, self.counts, self._starts)

    def __len__(self) -> int:
        return len(self.counts)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(f"region index {i} out of range for {len(self)} regions")
        i = i % len(self)
        s = self._starts[i]
        return Region(
            vertices=self.xy[s : s + self.counts[i]].copy(),
            pattern=tuple(int(b) for b in self.pattern_bits[i]),
            A=self.A[i].copy(),
            c=self.c[i].copy(),
            area=float(self._areas[i]),
        )

    def __iter__(self) -> Iterator[Region]:
        return (self[i] for i in range(len(self)))

    @property
    def count(self) -> int:
        return len(self)

    @property
    def areas(self) -> np.ndarray:
        """(R,) region areas, in the input metric."""
        return self._areas

    @property
    def patterns(self) -> np.ndarray:
        """(R, n_units) bool activation patterns."""
        return self.pattern_bits

    @property
    def smallest_area(self) -> float:
        return float(self._areas.min())

    @property
    def box_area(self) -> float:
        (x0, x1), (y0, y1) = self.box
        return (x1 - x0) * (y1 - y0)

    def polygons(self) -> list[np.ndarray]:
        """Each region's (k, 2) vertices, counter-clockwise."""
        return np.split(self.xy, self._starts[1:])

    def centroids(self) -> np.ndarray:
        """(R, 2) vertex means: interior points of the convex regions."""
        sums = np.add.reduceat(self.xy, self._starts, axis=0)
        return sums / self.counts[:, None]

    def pattern_strings(self) -> list[str]:
        """'0110|1011' per region: one group of digits per layer."""
        bounds = np.cumsum([0] + self.layer_widths)
        rows = self.pattern_bits.astype(np.uint8) + ord("0")
        return ["|".join(r[a:b].tobytes().decode() for a, b in zip(bounds[:-1], bounds[1:])) for r in rows]

    def to_dict(self) -> dict[str, Any]:
        """Plain lists, for JSON."""
        return {
            "count": len(self),
            "box": [list(self.box[0]), list(self.box[1])],
            "tol": self.tol,
            "slivers": self.slivers,
            "layers": self.layer_names,
            "widths": self.layer_widths,
            "out_activation": self.out_activation,
            "areas": self._areas.tolist(),
            "patterns": self.pattern_strings(),
            "vertices": [p.tolist() for p in self.polygons()],
            "A": self.A.tolist(),
            "c": self.c.tolist(),
        }

    def __repr__(self) -> str:
        return f"Regions(count={len(self)}, box={self.box}, smallest_area={self.smallest_area:.3g}, slivers={self.slivers})"


def _polygon_areas(xy: np.ndarray, counts: np.ndarray, starts: np.ndarray) -> np.ndarray:
    nxt = np.arange(len(xy)) + 1
    nxt[starts + counts - 1] = starts  # the last vertex of each polygon wraps to its first
    cross = xy[:, 0] * xy[nxt, 1] - xy[nxt, 0] * xy[:, 1]
    return 0.5 * np.add.reduceat(cross, starts)
