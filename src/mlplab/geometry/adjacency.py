"""Which linear regions touch: pairs of polygons that share an edge segment of positive length.

Used to colour region maps so that neighbours differ; regions that meet only at a vertex are not
neighbours. Pure NumPy on the flat polygons of a `Regions`.
"""

from __future__ import annotations

import numpy as np

from .polygons import Regions

# Edges on one line are grouped by their direction and offset. Vertices of one cut are computed per
# polygon, so the same line shows up with float64 rounding differences (~1e-15 of the box); these
# gaps are far above that and far below any line the enumeration keeps apart (its TOL is 1e-9).
ANGLE_GAP = 1e-7  # radians
OFFSET_GAP = 1e-8  # fraction of the box diagonal
OVERLAP = 1e-9  # a shared piece shorter than this fraction of the box diagonal is a vertex contact


def _clusters(sorted_values: np.ndarray, gap: float) -> np.ndarray:
    """Cluster ids of values sorted ascending: a new cluster wherever consecutive values differ by > gap."""
    return np.concatenate([[0], np.cumsum(np.diff(sorted_values) > gap)])


def region_adjacency(regions: Regions) -> np.ndarray:
    """(m, 2) int pairs i < j of regions whose polygons share an edge segment of positive length."""
    xy, counts = regions.xy, regions.counts
    if len(counts) < 2:
        return np.zeros((0, 2), np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    owner = np.repeat(np.arange(len(counts)), counts)  # (E,) polygon of each edge (one per vertex)
    nxt = np.arange(len(xy)) + 1
    nxt[starts + counts - 1] = starts
    p, q = xy, xy[nxt]  # (E, 2) each edge from p to q
    d = q - p
    length = np.hypot(d[:, 0], d[:, 1])
    (x0, x1), (y0, y1) = regions.box
    scale = float(np.hypot(x1 - x0, y1 - y0))
    keep = length > OVERLAP * scale
    p, q, d, owner = p[keep], q[keep], d[keep], owner[keep]
    theta = np.mod(np.arctan2(d[:, 1], d[:, 0]), np.pi)  # the line's direction, in [0, pi)
    theta[theta > np.pi - ANGLE_GAP] -= np.pi  # nearly horizontal lines all sit near 0
    u = np.stack([np.cos(theta), np.sin(theta)], 1)  # (E, 2) unit direction
    offset = (p[:, 1] * u[:, 0] - p[:, 0] * u[:, 1]) / scale  # signed distance of the line from the origin
    side = (d * u).sum(1) > 0  # polygons are counter-clockwise: the two sides of a shared edge run opposite
    t0, t1 = (p * u).sum(1), (q * u).sum(1)
    lo, hi = np.minimum(t0, t1), np.maximum(t0, t1)
    # group edges lying on one line: by direction first, then by offset within each direction
    by_theta = np.argsort(theta, kind="stable")
    angle_id = np.empty(len(theta), np.int64)
    angle_id[by_theta] = _clusters(theta[by_theta], ANGLE_GAP)
    order = np.lexsort((offset, angle_id))
    a, o = angle_id[order], offset[order]
    new = np.concatenate([[True], (np.diff(a) != 0) | (np.diff(o) > OFFSET_GAP)])
    group_starts = np.flatnonzero(new)
    bounds_ = np.append(group_starts, len(order))
    pairs = []
    tol = OVERLAP * scale
    for g0, g1 in zip(bounds_[:-1], bounds_[1:]):
        if g1 - g0 < 2:
            continue
        idx = order[g0:g1]
        plus, minus = idx[side[idx]], idx[~side[idx]]
        if not len(plus) or not len(minus):
            continue
        # edges on one side of a line do not overlap each other: sort one side and find, for each edge
        # of the other side, the contiguous run of edges it overlaps by more than tol
        minus = minus[np.argsort(lo[minus], kind="stable")]
        first = np.searchsorted(hi[minus], lo[plus] + tol, side="right")
        last = np.searchsorted(lo[minus], hi[plus] - tol, side="left")
        for e, f, l in zip(plus, first, last):
            for k in minus[f:l]:
                if owner[e] != owner[k]:
                    pairs.append((owner[e], owner[k]))
    if not pairs:
        return np.zeros((0, 2), np.int64)
    out = np.sort(np.array(pairs, dtype=np.int64), axis=1)
    return np.unique(out, axis=0)
