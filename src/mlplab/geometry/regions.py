"""Exact linear regions of piecewise-linear MLPs on a 2-D box, a plane slice or a segment.

The input domain is split layer by layer: each region carries the affine map from the input to the
current hidden layer, and a layer's units' zero lines cut every convex polygon all at once (the cells of
their arrangement, vectorised over all polygons; unit-by-unit half-plane clipping where lines are not in
general position). Everything runs in float64. The network comes compiled (`program.py`); results are
`Regions` (`polygons.py`); regions through training are in `training.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SpecError
from .polygons import Regions
from .program import _Act, _Affine, _compile, _Program

# A vertex whose pre-activation is within TOL x (largest |pre-activation| over its polygon) of zero is
# taken to lie on the unit's line. Relative, so it means "a cut thinner than ~1e-9 of the region's
# size is not made" whatever the scale of the weights; float64 rounding sits near 1e-16.
TOL = 1e-9


@dataclass
class _Polys:
    """Convex polygons, flat: xy (nv, 2), counts (P,), parent (P,) index into the layer's maps,
    bits (P, n) on/off of the current layer's units."""

    xy: np.ndarray
    counts: np.ndarray
    parent: np.ndarray
    bits: np.ndarray
    slivers: int = 0


def _apply_affine(op: _Affine, H: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Compose per-region maps: H (R, k, w), h (R, w) -> (R, k, out), (R, out).

    H holds the gradient rows (d stream / d u_k), so composing is one matrix product on the last axis.
    """
    R, k, w = H.shape
    return (H.reshape(R * k, w) @ op.W.T).reshape(R, k, -1), h @ op.W.T + op.b  # one GEMM, not R small ones


def _split_layer_clipping(P: _Polys, Z: np.ndarray, z: np.ndarray, tol: float) -> _Polys:
    """Cut every polygon by the zero line of each unit of a layer, one unit after the other.

    The fallback of `_split_layer` for lines not in general position (and its reference in the tests).

    Z: (R, 2, n), z: (R, n) pre-activation maps of the R polygons the layer starts with; the result's
    ``parent`` says which of them each new polygon comes from. A unit's line can only cut the descendants of the starting polygons whose bounding
    circle it meets, so each unit looks at those few polygons only.
    """
    xy, counts, slivers = P.xy, P.counts, P.slivers
    parent = np.arange(len(counts))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pid = np.repeat(np.arange(len(counts)), counts)  # (nv,) polygon of each vertex
    centre = np.add.reduceat(xy, starts, axis=0) / counts[:, None]  # (R, 2)
    radius = np.sqrt(np.maximum.reduceat(((xy - centre[pid]) ** 2).sum(1), starts))  # (R,)
    at_centre = np.einsum("rk,rkn->rn", centre, Z) + z  # (R, n)
    reach = np.sqrt((Z**2).sum(1)) * radius[:, None]  # (R, n): largest change over the circle
    near = np.abs(at_centre) <= reach * (1 + 1e-6) + 1e-300  # (R, n) the line may meet the polygon
    bits = at_centre > 0  # (R, n) on/off where the line misses the polygon; children inherit rows
    near_t = np.ascontiguousarray(near.T)  # (n, R)
    Zu = np.ascontiguousarray(np.concatenate([Z, z[:, None, :]], axis=1).transpose(2, 0, 1))  # (n, R, 3)
    for j in range(Zu.shape[0]):
        sel = near_t[j][parent]  # (P,) polygons descended from one the line may meet
        if not sel.any():
            continue
        sidx = np.flatnonzero(sel)
        vsel = sel[pid]
        xs = xy[vsel]  # (m, 2) vertices of the polygons to test
        cnt = counts[sidx]
        st = np.concatenate([[0], np.cumsum(cnt)[:-1]])
        lpid = np.repeat(np.arange(len(sidx)), cnt)
        g = Zu[j][parent[sidx]][lpid]  # (m, 3): the unit's map on each vertex's polygon
        ss = xs[:, 0] * g[:, 0] + xs[:, 1] * g[:, 1] + g[:, 2]  # (m,) pre-activation at each vertex
        hi, lo = np.maximum.reduceat(ss, st), np.minimum.reduceat(ss, st)
        thr = tol * np.maximum(hi, -lo)
        has_pos, has_neg = hi > thr, lo < -thr
        cut = has_pos & has_neg
        bits[sidx, j] = has_pos
        slivers += int(np.count_nonzero((has_pos & (lo < 0) & ~has_neg) | (has_neg & (hi > 0) & ~has_pos)))
        if not cut.any():
            continue
        # Half-plane clipping of the cut polygons, in vertex order (keeps counter-clockwise order).
        vcut_local = cut[lpid]
        xs, ss, vthr = xs[vcut_local], ss[vcut_local], thr[lpid[vcut_local]]
        sign = (ss > vthr).astype(np.int8) - (ss < -vthr).astype(np.int8)
        cnt = cnt[cut]
        st = np.concatenate([[0], np.cumsum(cnt)[:-1]])
        nxt = np.arange(len(xs)) + 1
        nxt[st + cnt - 1] = st
        cross = sign * sign[nxt] < 0  # the edge (v, next v) goes from one strict side to the other
        p = xs.copy()
        i = np.flatnonzero(cross)
        t = ss[i] / (ss[i] - ss[nxt[i]])
        p[i] = xs[i] + t[:, None] * (xs[nxt[i]] - xs[i])
        cand = np.stack([xs, p], axis=1).reshape(-1, 2)  # (2m, 2): each vertex, then its edge's crossing
        keep_on = np.stack([sign >= 0, cross], axis=1)  # (m, 2)
        keep_off = np.stack([sign <= 0, cross], axis=1)
        cnt_on = np.add.reduceat(keep_on.sum(1), st)
        cnt_off = np.add.reduceat(keep_off.sum(1), st)
        gcut = np.zeros(len(counts), bool)
        gcut[sidx[cut]] = True
        on_bits, off_bits = bits[gcut], bits[gcut]
        on_bits[:, j], off_bits[:, j] = True, False
        xy = np.concatenate([xy[~gcut[pid]], cand[keep_on.ravel()], cand[keep_off.ravel()]])
        counts = np.concatenate([counts[~gcut], cnt_on, cnt_off])
        parent = np.concatenate([parent[~gcut], parent[gcut], parent[gcut]])
        bits = np.concatenate([bits[~gcut], on_bits, off_bits])
        pid = np.repeat(np.arange(len(counts)), counts)
    return _Polys(xy, counts, parent, bits, slivers)


def _starts_of(counts: np.ndarray) -> np.ndarray:
    """Offsets of consecutive segments of the given lengths."""
    out = np.empty(len(counts), np.int64)
    if len(counts):
        out[0] = 0
        counts[:-1].cumsum(out=out[1:])
    return out


_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93], np.uint64)


def _pack(on: np.ndarray) -> np.ndarray:
    """(I, n) bool -> (I, W) uint64 words, bit j of the row in word j // 64."""
    I, n = on.shape
    W = -(-n // 64)
    if n != 64 * W:
        wide = np.zeros((I, 64 * W), bool)
        wide[:, :n] = on
        on = wide
    return np.packbits(on.reshape(-1), bitorder="little").view("<u8").reshape(I, W)


def _bit(j: np.ndarray) -> np.ndarray:
    """1 << (j % 64) as uint64."""
    return np.left_shift(np.uint64(1), (j & 63).astype(np.uint64))


def _with_bit(words: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Copy of ``words`` with bit j[i] (known to be 0) set in row i."""
    if words.shape[1] == 1:
        return words + _bit(j)[:, None]
    out = words.copy()
    out[np.arange(len(j)), j >> 6] += _bit(j)
    return out


def _group_rows(owner: np.ndarray, words: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Group equal rows of (owner, words): (row order that makes groups contiguous, start of each group in it).

    When the owner and the n bits fit in one 64-bit integer that integer is sorted; otherwise a
    64-bit hash is sorted and the groups are checked row by row against their first row, with a full
    lexicographic sort in the (never seen) case of a collision.
    """
    top = int(owner.max()) if len(owner) else 0
    if words.shape[1] == 1 and n + top.bit_length() <= 64:
        key = words[:, 0] if top == 0 else (owner.astype(np.uint64) << np.uint64(n)) | words[:, 0]
        srt = np.argsort(key)
        ks = key[srt]
        new = np.ones(len(srt), bool)
        new[1:] = ks[1:] != ks[:-1]
    else:
        with np.errstate(over="ignore"):
            h = owner.astype(np.uint64) * _MIX[0]
            for w in range(words.shape[1]):  # xor, multiply, fold: every bit of a word reaches every bit
                h ^= words[:, w]
                h *= _MIX[1 + w % 3]
                h ^= h >> np.uint64(31)
        srt = np.argsort(h)
        hs = h[srt]
        new = np.ones(len(srt), bool)
        new[1:] = hs[1:] != hs[:-1]
        head = srt[new][new.cumsum() - 1]  # the first row of each row's group, in sorted order
        if (owner[srt] != owner[head]).any() or (words[srt] != words[head]).any():
            srt = np.lexsort((*words.T, owner))
            new[1:] = (owner[srt[1:]] != owner[srt[:-1]]) | (words[srt[1:]] != words[srt[:-1]]).any(1)
    return srt, new.nonzero()[0]


def _split_layer(P: _Polys, Z: np.ndarray, z: np.ndarray, tol: float) -> _Polys:
    """Cut every polygon by the zero lines of all units of a layer at once (line arrangement per polygon).

    Z: (R, 2, n), z: (R, n) pre-activation maps of the R polygons the layer starts with; the result's
    ``parent`` says which of them each new polygon comes from. Inside one polygon the units' lines form
    an arrangement whose cells are the new regions; every cell vertex is one of: (a) a vertex of the
    polygon, (b) a point where a line crosses an edge, (c) a point where two lines cross inside. Each
    such point is filed under the sign vectors of the cells that touch it (1, 2 or 4), the points are
    grouped by (polygon, sign vector), and each group, sorted by angle around its mean, is a new
    polygon. A fixed number of array operations per layer, whatever its width. Lines not in general
    position (a vertex or a crossing within ``tol`` of another line) send the layer to
    `_split_layer_clipping`, which merges slivers thinner than ``tol``.
    """
    xy, counts = P.xy, P.counts
    R, n = z.shape
    starts = _starts_of(counts)
    pid = np.arange(R).repeat(counts)
    # which lines may meet which polygons: |change over the polygon's bounding box| >= |value at its centre|
    top, bot = np.maximum.reduceat(xy, starts, axis=0), np.minimum.reduceat(xy, starts, axis=0)
    centre, half = (top + bot) / 2, (top - bot) / 2
    at_centre = centre[:, :1] * Z[:, 0] + centre[:, 1:] * Z[:, 1] + z  # (R, n)
    reach = half[:, :1] * np.abs(Z[:, 0]) + half[:, 1:] * np.abs(Z[:, 1])
    near = np.abs(at_centre) <= reach * (1 + 1e-6) + 1e-300
    bits = at_centre > 0  # (R, n) on/off where a line misses its polygon
    pr, pj = np.nonzero(near)  # (Q,) near (polygon, unit) pairs, sorted by polygon
    if not len(pr):
        return _Polys(xy, counts, np.arange(R), bits, P.slivers)
    # the pre-activation of each near unit at every vertex of its polygon, pair-major
    flat_rn = pr * n + pj
    coef = np.stack([Z[:, 0].take(flat_rn), Z[:, 1].take(flat_rn), z.take(flat_rn)], axis=1)  # (Q, 3)
    pm = counts.take(pr)
    qv = np.arange(len(pr)).repeat(pm)
    vidx = np.arange(len(qv)) + (starts.take(pr) - pm.cumsum() + pm).repeat(pm)
    g = coef.take(qv, axis=0)
    s = xy[:, 0].take(vidx) * g[:, 0] + xy[:, 1].take(vidx) * g[:, 1] + g[:, 2]
    pstart = _starts_of(pm)
    hi, lo = np.maximum.reduceat(s, pstart), np.minimum.reduceat(s, pstart)
    thr = tol * np.maximum(hi, -lo)
    has_pos, has_neg = hi > thr, lo < -thr
    bits.reshape(-1)[flat_rn] = has_pos
    slivers = P.slivers + int(np.count_nonzero((has_pos & (lo < 0) & ~has_neg) | (has_neg & (hi > 0) & ~has_pos)))
    cidx = (has_pos & has_neg).nonzero()[0]  # the near pairs whose line crosses the polygon
    if not len(cidx):
        return _Polys(xy, counts, np.arange(R), bits, slivers)
    cr, cj, ccoef = pr.take(cidx), pj.take(cidx), coef.take(cidx, axis=0)  # (C,) cutting pairs, by polygon
    k = np.bincount(cr, minlength=R)  # cutting lines per polygon
    is_cut = k > 0
    # (a) the polygons' own vertices, each strictly on one side of every cutting line
    cm = pm.take(cidx)
    cq = np.arange(len(cr)).repeat(cm)  # cutting pair of each value
    vsel = (pstart.take(cidx) - cm.cumsum() + cm).repeat(cm) + np.arange(len(cq))
    cs, cv = s.take(vsel), vidx.take(vsel)
    pthr = thr.take(cidx)  # (C,) each cutting line's tolerance on its polygon
    cthr = pthr[cq]
    csign = (cs > cthr).view(np.int8) - (cs < -cthr).view(np.int8)
    if not csign.all():  # a vertex on a cutting line (within the tolerance): not in general position
        return _split_layer_clipping(P, Z, z, tol)
    # (b) the points where a line crosses an edge, from one strict side to the other
    nxt = np.arange(1, len(cs) + 1)
    cstart = _starts_of(cm)
    nxt[cstart + cm - 1] = cstart
    i = (csign * csign.take(nxt) < 0).nonzero()[0]
    i2 = nxt.take(i)
    s1, s2 = cs.take(i), cs.take(i2)
    f = s1 / (s1 - s2)
    v1, v2 = cv.take(i), cv.take(i2)
    xs, ys = xy[:, 0].copy(), xy[:, 1].copy()
    x1, y1 = xs.take(v1), ys.take(v1)
    bx, by = x1 + f * (xs.take(v2) - x1), y1 + f * (ys.take(v2) - y1)
    b_pair = cq.take(i)
    if len(i) != 2 * len(cr):  # each cutting line crosses its convex polygon's boundary twice
        return _split_layer_clipping(P, Z, z, tol)
    # (c) the points where two lines cross inside the polygon: where the second line separates the
    # first one's two edge points (b-points 2q and 2q + 1 of cutting pair q)
    kstart = _starts_of(k)
    partners = k.take(cr) - 1 - (np.arange(len(cr)) - kstart.take(cr))
    pa = np.arange(len(cr)).repeat(partners)
    pb = pa + 1 + np.arange(len(pa)) - (partners.cumsum() - partners).repeat(partners)
    B = ccoef.take(pb, axis=0)
    e0, e1 = 2 * pa, 2 * pa + 1
    inside = ((B[:, 0] * bx.take(e0) + B[:, 1] * by.take(e0) + B[:, 2])
              * (B[:, 0] * bx.take(e1) + B[:, 1] * by.take(e1) + B[:, 2]) < 0).nonzero()[0]
    pa, pb, B = pa.take(inside), pb.take(inside), B.take(inside, axis=0)
    A = ccoef.take(pa, axis=0)
    det = A[:, 0] * B[:, 1] - A[:, 1] * B[:, 0]
    if not det.all():  # parallel, yet one separates the other's edge points: the same line twice
        return _split_layer_clipping(P, Z, z, tol)
    cx = (A[:, 1] * B[:, 2] - A[:, 2] * B[:, 1]) / det
    cy = (A[:, 2] * B[:, 0] - A[:, 0] * B[:, 2]) / det
    c_r = cr.take(pa)
    # every point with its polygon
    av = is_cut.take(pid).nonzero()[0]
    px, py = np.concatenate([xs.take(av), bx, cx]), np.concatenate([ys.take(av), by, cy])
    owner = np.concatenate([pid.take(av), cr.take(b_pair), c_r])
    T, n_a, n_b = len(px), len(av), len(bx)
    # sign vectors as 64-bit words (bit j of a row in word j // 64): the polygon's bits with its cutting
    # lines cleared, then the cutting lines that are on at the point added (an add sets a clear bit)
    W = -(-n // 64)
    base = bits.copy()
    base.reshape(-1)[flat_rn.take(cidx)] = False
    words = _pack(base).take(owner, axis=0)  # (T, W)
    flat = words.reshape(-1)
    # (a) the polygon's vertices: signs from the values above
    pos = np.full(len(xy), -1)
    pos[av] = np.arange(n_a)
    a_pt, a_j = pos.take(cv), cj.take(cq)
    np.add.at(flat, a_pt * W + (a_j >> 6), np.where(csign > 0, _bit(a_j), np.uint64(0)))
    # (b, c) the crossing points. Exactly their own lines (1 for an edge point, 2 for a crossing) must
    # be within tolerance there; a third one means the lines are not in general position, and the
    # layer is cut unit by unit instead. Other cutting lines: on where above the tolerance.
    own = np.concatenate([np.ones(n_b, np.int32), np.full(len(pa), 2, np.int32)])  # (T - n_a,)
    bc = np.arange(n_a, T)
    dense = k.take(owner[n_a:]) * 4 > n  # points of polygons cut by many lines: all units at once
    if dense.any():
        thr_rn = np.full((R, n), -1.0)  # the cutting lines' tolerances, -1 for the other lines
        thr_rn.reshape(-1)[flat_rn.take(cidx)] = pthr
        cut_rn = _pack(thr_rn >= 0)  # (R, W) the cutting lines
        all_bd, all_own = bc[dense], own[dense]
        step = max(1, (1 << 21) // n)  # rows per block: (rows, n) temporaries of at most 16 MB
        for lo in range(0, len(all_bd), step):
            bd, ob = all_bd[lo : lo + step], owner.take(all_bd[lo : lo + step])
            P3 = np.ones((len(bd), 3))
            P3[:, 0], P3[:, 1] = px.take(bd), py.take(bd)
            if ob[0] == ob[-1] and (ob == ob[0]).all():  # one polygon (the box, in a first layer)
                val = P3 @ np.concatenate([Z[ob[0]], z[ob[0]][None]])  # (rows, n)
                thr_b, cut_b = thr_rn[ob[0]], cut_rn[ob[0]]
            else:
                val = np.einsum("tk,tkn->tn", P3, np.concatenate([Z.take(ob, axis=0), z.take(ob, axis=0)[:, None, :]], axis=1))
                thr_b, cut_b = thr_rn.take(ob, axis=0), cut_rn.take(ob, axis=0)
            if (np.count_nonzero(np.abs(val) <= thr_b, axis=1) != all_own[lo : lo + step]).any():
                return _split_layer_clipping(P, Z, z, tol)
            words[bd] |= _pack(val > thr_b) & cut_b
        bc, own = bc[~dense], own[~dense]
    kk = k.take(owner.take(bc))
    if len(bc):
        te = bc.repeat(kk)
        ce = (kstart.take(owner.take(bc)) - kk.cumsum() + kk).repeat(kk) + np.arange(len(te))
        cc = ccoef.take(ce, axis=0)
        val = px.take(te) * cc[:, 0] + py.take(te) * cc[:, 1] + cc[:, 2]
        je, te_thr = cj.take(ce), pthr.take(ce)
        seg = _starts_of(kk)  # each point's entries are contiguous
        if (np.add.reduceat((np.abs(val) <= te_thr).astype(np.int32), seg) != own).any():
            return _split_layer_clipping(P, Z, z, tol)
        above = val > te_thr
        for w in range(W):
            on_w = above if W == 1 else above & (je >> 6 == w)
            add = np.add.reduceat(np.where(on_w, _bit(je), np.uint64(0)), seg)
            if W == 1:
                flat[bc] += add
            else:
                words[bc, w] += add
    # an edge point touches the 2 cells on either side of its line, a crossing the 4 around it
    jb, ja, jc = cj.take(b_pair), cj.take(pa), cj.take(pb)
    c_pt = np.arange(n_a + n_b, T)
    Wb, Wc = words[n_a : n_a + n_b], words[n_a + n_b :]
    Wb1, Wc1, Wc2 = _with_bit(Wb, jb), _with_bit(Wc, ja), _with_bit(Wc, jc)
    inc_words = [words[:n_a], Wb, Wb1, Wc, Wc1, Wc2, _with_bit(Wc1, jc)]
    inc_pt = [np.arange(n_a), *[np.arange(n_a, n_a + n_b)] * 2, *[c_pt] * 4]
    inc_pt, inc_words = np.concatenate(inc_pt), np.concatenate(inc_words)
    # group by (polygon, sign vector); groups of fewer than 3 points are not cells (a safety net)
    srt, first = _group_rows(owner.take(inc_pt), inc_words, n)
    size = np.empty(len(first), np.int64)
    size[:-1] = first[1:] - first[:-1]
    size[-1] = len(srt) - first[-1]
    good = (size >= 3).nonzero()[0]
    if len(good) < len(first):
        keep_inc = (size >= 3).repeat(size)
        srt, size = srt[keep_inc], size.take(good)
        first = _starts_of(size)
    else:
        first = first.take(good)
    inc_pt = inc_pt.take(srt)
    cell_parent = owner.take(inc_pt.take(first))
    cw = inc_words.take(srt, axis=0).take(first, axis=0)
    cell_bits = np.unpackbits(cw.view(np.uint8).reshape(-1), bitorder="little").reshape(len(cw), -1)[:, :n].view(bool)
    qx, qy = px.take(inc_pt), py.take(inc_pt)
    cell = np.arange(len(size)).repeat(size)
    dx = qx - (np.add.reduceat(qx, first) / size).take(cell)
    dy = qy - (np.add.reduceat(qy, first) / size).take(cell)
    # counter-clockwise within each cell: one sort on cell + angle (angles resolved to ~1e-11 rad per
    # 1e4 cells; vertices closer in angle than that are closer than the tolerance lets cuts come)
    order = np.argsort(cell * 8.0 + (np.arctan2(dy, dx) + 4.0), kind="stable")
    new_xy = np.empty((len(order), 2))
    new_xy[:, 0], new_xy[:, 1] = qx.take(order), qy.take(order)
    keep = (~is_cut).nonzero()[0]  # the polygons no line crosses, unchanged
    return _Polys(
        xy=np.concatenate([xy.take((~is_cut).take(pid).nonzero()[0], axis=0), new_xy]),
        counts=np.concatenate([counts.take(keep), size]),
        parent=np.concatenate([keep, cell_parent]),
        bits=np.concatenate([bits.take(keep, axis=0), cell_bits]),
        slivers=slivers,
    )


def _propagate(prog: _Program, H: np.ndarray, h: np.ndarray, split) -> tuple[np.ndarray, np.ndarray]:
    """Compose the network's affine pieces, letting ``split`` cut the pieces at every activation.

    H, h: (R, k, d), (R, d) the map from the piece's coordinates to the current layer, one per piece;
    split(Z, z, slope) -> (parent of each new piece, Z, z after the activation) does the cutting
    (polygons in the plane, intervals on a segment).
    """
    for op in prog.ops:
        if isinstance(op, _Affine):
            H, h = _apply_affine(op, H, h)
        elif isinstance(op, _Act):
            _, H, h = split(H, h, op.slope)
        else:  # a residual block: the branch is cut, the skip follows its pieces
            Z, z = H, h
            for a in op.pre:
                Z, z = _apply_affine(a, Z, z)
            if op.act is not None:
                parent, Z, z = split(Z, z, op.act.slope)
                H, h = H[parent], h[parent]
            for a in op.post:
                Z, z = _apply_affine(a, Z, z)
            H, h = H + Z, h + z
    return H, h


def _enumerate(prog: _Program, origin: np.ndarray, basis: np.ndarray, box, tol: float) -> Regions:
    """Regions of ``u -> net(origin + basis @ u)`` for u in ``box``."""
    (x0, x1), (y0, y1) = box
    xy = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)  # counter-clockwise
    P = _Polys(xy, np.array([4]), np.array([0]), np.zeros((1, 0), bool))
    H, h = basis.T[None].copy(), origin[None].copy()  # (1, 2, d_in), (1, d_in): u -> origin + basis @ u
    history = np.zeros((1, 0), bool)  # (R, units so far)

    def split(Z, z, slope):
        nonlocal P, history
        P = _split_layer(P, Z, z, tol)
        history = np.concatenate([history.take(P.parent, axis=0), P.bits], axis=1)
        m = P.bits if slope == 0 else np.where(P.bits, 1.0, slope)  # (R', n) slope of each unit per region
        Zp, zp = Z.take(P.parent, axis=0), z.take(P.parent, axis=0)
        Zp *= m[:, None, :]
        zp *= m
        return P.parent, Zp, zp

    H, h = _propagate(prog, H, h, split)
    return Regions(
        xy=P.xy, counts=P.counts, pattern_bits=history, A=np.ascontiguousarray(H.transpose(0, 2, 1)), c=h,
        box=((float(x0), float(x1)), (float(y0), float(y1))), tol=tol, slivers=P.slivers,
        layer_names=prog.layer_names, layer_widths=prog.layer_widths, out_activation=prog.out_activation,
    )


def _check_box(box) -> tuple[tuple[float, float], tuple[float, float]]:
    try:
        (x0, x1), (y0, y1) = box
        x0, x1, y0, y1 = (float(v) for v in (x0, x1, y0, y1))
    except (TypeError, ValueError):
        raise SpecError("box", "((x0, x1), (y0, y1)) with x0 < x1 and y0 < y1", box) from None
    if not (np.isfinite([x0, x1, y0, y1]).all() and x0 < x1 and y0 < y1):
        raise SpecError("box", "((x0, x1), (y0, y1)) with x0 < x1 and y0 < y1", box)
    return (x0, x1), (y0, y1)


def _check_tol(tol: float) -> float:
    if not (isinstance(tol, (int, float)) and 0 <= tol < 1e-3):
        raise SpecError("tol", "a relative tolerance in [0, 1e-3)", tol, hint=f"the default is {TOL}")
    return float(tol)


def linear_regions(model, box=((-1.0, 1.0), (-1.0, 1.0)), *, tol: float = TOL) -> Regions:
    """Every linear region of a 2-input piecewise-linear MLP inside ``box``, exactly (float64).

    Works for ReLU, leaky ReLU and identity activations, residual blocks and batch norm (always
    taken in eval mode: running statistics folded into the affine maps). A final Sigmoid/Softmax is
    allowed: the regions and maps are those of the logits. Tanh, sigmoid in the middle, layer norm and
    polynomial features raise `SpecError` naming the layer. ``tol``: see ``TOL``; merged slivers are
    counted in ``Regions.slivers``.
    """
    prog = _compile(model)
    if prog.d_in != 2:
        hint = ("use linear_pieces_1d for a 1-input model (its exact breakpoints on an interval)" if prog.d_in == 1
                else "use linear_regions_slice for other input sizes")
        raise SpecError("model", "a model with 2 inputs", f"{prog.d_in} inputs", hint=hint)
    return _enumerate(prog, np.zeros(2), np.eye(2), _check_box(box), _check_tol(tol))


def plane_basis(p0, p1, p2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Orthonormal basis of the plane through three points: (origin p0, basis (d, 2), coords (3, 2))."""
    pts = [np.asarray(p, dtype=np.float64).ravel() for p in (p0, p1, p2)]
    if len({p.shape for p in pts}) != 1:
        raise SpecError("p0, p1, p2", "three points of the same dimension", [p.shape for p in pts])
    e1 = pts[1] - pts[0]
    n1 = np.linalg.norm(e1)
    v = pts[2] - pts[0]
    e2 = v - (v @ e1) / (n1**2 if n1 else 1.0) * e1
    n2 = np.linalg.norm(e2)
    if n1 == 0 or n2 <= 1e-12 * max(n1, np.linalg.norm(v)):
        raise SpecError("p0, p1, p2", "three points not on one line", "collinear points")
    basis = np.stack([e1 / n1, e2 / n2], axis=1)  # (d, 2)
    coords = np.stack([(p - pts[0]) @ basis for p in pts])  # (3, 2)
    return pts[0], basis, coords


def linear_regions_slice(model, p0, p1, p2, *, margin: float = 0.25, box=None, tol: float = TOL) -> Regions:
    """Linear regions on the plane through three inputs (any input dimension).

    Plane coordinates are u = (u1, u2) in an orthonormal basis with p0 at the origin, u1 along
    p1 - p0, so areas are in the input metric. The default box is the bounding box of the three points
    in those coordinates, widened by ``margin`` times its size on each side. The maps A are d(out)/du.
    """
    prog = _compile(model)
    origin, basis, coords = plane_basis(p0, p1, p2)
    if len(origin) != prog.d_in:
        raise SpecError("p0, p1, p2", f"points with {prog.d_in} coordinates (the model's inputs)", len(origin))
    if box is None:
        lo, hi = coords.min(0), coords.max(0)
        pad = margin * (hi - lo).max()
        box = ((lo[0] - pad, hi[0] + pad), (lo[1] - pad, hi[1] + pad))
    regions = _enumerate(prog, origin, basis, _check_box(box), _check_tol(tol))
    regions.origin, regions.basis = origin, basis
    return regions


def _segment_pieces(prog: _Program, a: np.ndarray, b: np.ndarray, tol: float):
    """The pieces of x(t) = a + t (b - a), t in [0, 1], sorted: lo, hi (R,), and each piece's map from t
    to the output (logits), H (R, 1, out), h (R, out).

    Pieces are split exactly like the 2-D polygons, as intervals of t.
    """
    lo, hi = np.array([0.0]), np.array([1.0])
    H, h = (b - a)[None, None, :], a[None].copy()  # (1, 1, d_in), (1, d_in)

    def split(Z, z, slope):  # Z: (R, 1, n), z: (R, n)
        nonlocal lo, hi
        n = Z.shape[2]
        parent, bits = np.arange(len(lo)), np.zeros((len(lo), n), bool)
        for j in range(n):
            g, c = Z[parent, 0, j], z[parent, j]
            s_lo, s_hi = g * lo + c, g * hi + c
            thr = tol * np.maximum(np.abs(s_lo), np.abs(s_hi))
            cut = ((s_lo > thr) & (s_hi < -thr)) | ((s_lo < -thr) & (s_hi > thr))
            bits[:, j] = (s_lo > thr) | (s_hi > thr)
            if cut.any():
                t = lo[cut] + s_lo[cut] / (s_lo[cut] - s_hi[cut]) * (hi[cut] - lo[cut])
                up = s_hi[cut] > 0  # which half is on
                b_left, b_right = bits[cut].copy(), bits[cut].copy()
                b_left[:, j], b_right[:, j] = ~up, up
                lo = np.concatenate([lo[~cut], lo[cut], t])
                hi = np.concatenate([hi[~cut], t, hi[cut]])
                parent = np.concatenate([parent[~cut], parent[cut], parent[cut]])
                bits = np.concatenate([bits[~cut], b_left, b_right])
        m = np.where(bits, 1.0, slope)
        return parent, m[:, None, :] * Z[parent], m * z[parent]

    H, h = _propagate(prog, H, h, split)
    order = np.argsort(lo)
    return lo[order], hi[order], H[order], h[order]


def _two_points(prog: _Program, a, b) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != (prog.d_in,) or b.shape != (prog.d_in,):
        raise SpecError("a, b", f"two points with {prog.d_in} coordinates", (a.shape, b.shape))
    return a, b


def segment_breakpoints(model, a, b, *, tol: float = TOL) -> np.ndarray:
    """Parameters 0 < t_1 < ... < t_k < 1 where the pattern changes along x(t) = a + t (b - a)."""
    prog = _compile(model)
    a, b = _two_points(prog, a, b)
    return _segment_pieces(prog, a, b, _check_tol(tol))[0][1:]


@dataclass
class Pieces1D:
    """The linear pieces of a 1-input network on an interval, exactly (float64).

    edges: (k + 2,) the interval's ends with the k breakpoints between them, increasing; slopes,
    intercepts: (k + 1, out) the output (logits, before a final sigmoid/softmax) is
    ``slopes[i] * x + intercepts[i]`` on [edges[i], edges[i + 1]]. ``len()`` is the number of pieces.
    """

    edges: np.ndarray
    slopes: np.ndarray
    intercepts: np.ndarray

    @property
    def breakpoints(self) -> np.ndarray:
        """(k,) the inputs strictly inside the interval where an activation pattern changes."""
        return self.edges[1:-1]

    def __len__(self) -> int:
        return len(self.slopes)

    def to_dict(self) -> dict:
        """JSON-ready: count, breakpoints, and each piece's interval, slope and intercept (first output)."""
        return {"count": len(self), "breakpoints": self.breakpoints.tolist(),
                "pieces": [{"lo": float(a), "hi": float(b), "slope": float(m), "intercept": float(c)}
                           for a, b, m, c in zip(self.edges[:-1], self.edges[1:], self.slopes[:, 0], self.intercepts[:, 0])]}

    def __call__(self, x) -> np.ndarray:
        """The piecewise-linear function at ``x`` (n,) -> (n, out); inputs outside extend the end pieces."""
        x = np.asarray(x, dtype=np.float64).ravel()
        i = np.clip(np.searchsorted(self.edges, x, side="right") - 1, 0, len(self) - 1)
        return self.slopes[i] * x[:, None] + self.intercepts[i]


def linear_pieces_1d(model, interval=(-1.0, 1.0), *, tol: float = TOL) -> Pieces1D:
    """Every linear piece of a 1-input piecewise-linear MLP on ``interval`` = (lo, hi), exactly.

    The interval is walked layer by layer like the 2-D regions: each piece carries its affine map, and a
    unit whose pre-activation changes sign inside a piece cuts it at the root (ReLU, leaky ReLU, residual
    blocks, batch norm in eval mode; tanh or sigmoid hidden units raise `SpecError` naming the layer).
    """
    prog = _compile(model)
    if prog.d_in != 1:
        raise SpecError("model", "a model with 1 input", f"{prog.d_in} inputs",
                        hint="linear_regions draws 2-input models, linear_regions_slice any other")
    try:
        x0, x1 = (float(v) for v in interval)
    except (TypeError, ValueError):
        raise SpecError("interval", "two numbers (lo, hi)", interval) from None
    if not (np.isfinite(x0) and np.isfinite(x1) and x0 < x1):
        raise SpecError("interval", "finite lo < hi", interval)
    lo, hi, H, h = _segment_pieces(prog, np.array([x0]), np.array([x1]), _check_tol(tol))
    width = x1 - x0
    slopes = H[:, 0, :] / width  # d out / d x
    intercepts = h - H[:, 0, :] * (x0 / width)
    edges = np.concatenate([x0 + lo * width, [x1]])
    return Pieces1D(edges, slopes, intercepts)


def count_on_segment(model, a, b, *, tol: float = TOL) -> int:
    """Exact number of linear pieces of the network along the segment from ``a`` to ``b``."""
    return len(segment_breakpoints(model, a, b, tol=tol)) + 1


def activation_patterns(model, X) -> np.ndarray:
    """(n, n_units) bool: which ReLU-like units are on (pre-activation > 0) at each input, float64.

    The reference the enumeration is tested against; X: (n, d_in).
    """
    prog = _compile(model)
    x = np.asarray(X, dtype=np.float64)
    bits: list[np.ndarray] = []

    def act(z, op):
        bits.append(z > 0)
        return np.where(z > 0, z, op.slope * z)

    for op in prog.ops:
        if isinstance(op, _Affine):
            x = x @ op.W.T + op.b
        elif isinstance(op, _Act):
            x = act(x, op)
        else:
            z = x
            for a in op.pre:
                z = z @ a.W.T + a.b
            if op.act is not None:
                z = act(z, op.act)
            for a in op.post:
                z = z @ a.W.T + a.b
            x = x + z
    return np.concatenate(bits, axis=1) if bits else np.zeros((len(x), 0), bool)
