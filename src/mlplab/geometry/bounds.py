"""Bounds on the number of linear regions of a ReLU MLP (plain or residual), n_in inputs, widths n_1..n_L.

Plain-MLP formulas (our own code) from Montufar et al. 2014, Montufar 2017 and Serra, Tjandraatmadja,
Ramalingam 2018 (ICML); the residual bound and its proof are in `residual_upper`.
"""

from __future__ import annotations

from math import comb, prod

from ..errors import SpecError


def _arrangement(n: int, d: int) -> int:
    """Regions of n hyperplanes in general position in R^d: sum_{j<=d} C(n, j)."""
    return sum(comb(n, j) for j in range(min(n, d) + 1))


def serra_upper(n_in: int, hidden: list[int]) -> int:
    """Serra et al. 2018, Theorem 1: sum over (j_1..j_L) of prod_l C(n_l, j_l), where
    0 <= j_l <= min(n_in, n_1 - j_1, ..., n_{l-1} - j_{l-1}, n_l).

    Summed by dynamic programming over the running cap m = min(n_in, n_1 - j_1, ...), exactly.
    """
    ways = {n_in: 1}  # cap -> sum of products of binomials of the layers so far
    for n in hidden:
        nxt: dict[int, int] = {}
        for cap, w in ways.items():
            for j in range(min(cap, n) + 1):
                key = min(cap, n - j)
                nxt[key] = nxt.get(key, 0) + w * comb(n, j)
        ways = nxt
    return sum(ways.values())


def montufar2017_upper(n_in: int, hidden: list[int]) -> int:
    """Montufar 2017: prod_l sum_{j <= d_l} C(n_l, j) with d_l = min(n_in, n_1, ..., n_l)."""
    total, d = 1, n_in
    for n in hidden:
        d = min(d, n)
        total *= _arrangement(n, d)
    return total


def residual_upper(n_in: int, hidden: list[int]) -> int:
    """An upper bound for mlplab's residual nets (stem, blocks x + W2 act(W1 x + b1) + b2 with n_l
    hidden units each, linear projections between widths): prod_l sum_{j <= d_l} C(n_l, j), with
    d_l = min(n_in, n_1, ..., n_l). It has the form of Montufar 2017's bound; the proof is ours.

    Proof, by induction over the blocks. Before block l the input space is cut into convex regions on
    each of which the stream is an affine map x -> A x + c of the input, with rank A <= d_l: the
    stem and the projections are linear maps to n_1, ..., n_l coordinates, batch norm (eval mode) is
    affine, and a block maps its input through I + W2 D W1 with D diagonal, which keeps the rank
    below the stream width. Inside one region the block's n_l pre-activations are affine functions
    of x that depend on x only through A x, so their zero sets form an arrangement of at most n_l
    hyperplanes pulled back from an affine space of dimension rank A; such an arrangement has at
    most sum_{j <= rank A} C(n_l, j) cells (the general-position count is the maximum), and each
    cell meets the convex region in at most one convex piece. Every region of the next stage is such
    a piece, so the count multiplies by at most that sum. A box only removes regions. Leaky ReLU
    changes nothing (pieces are decided by the same signs), and the same argument, with a plain layer
    D W in place of a block, proves Montufar 2017's bound for plain leaky ReLU nets.

    Serra et al.'s sharper bound does not carry over: it relies on a layer with j active units
    passing on at most j dimensions, and the skip connection passes on all of them (so does a leaky
    ReLU's inactive unit, so Serra's bound is not claimed for leaky ReLU nets either) (a residual
    2-[2, 2] net reaches 13-16 regions in the course's box, above Serra's 11 for a plain 2-2-2 net).
    """
    return montufar2017_upper(n_in, hidden)


def montufar2014_lower(n_in: int, hidden: list[int]) -> int | None:
    """Montufar et al. 2014 (every n_l >= n_in): prod_{l<L} floor(n_l/n_in)^n_in * sum_{j<=n_in} C(n_L, j)."""
    if not hidden or min(hidden) < n_in:
        return None
    return prod((n // n_in) ** n_in for n in hidden[:-1]) * _arrangement(hidden[-1], n_in)


def serra_lower(n_in: int, hidden: list[int]) -> int | None:
    """Serra et al. 2018 (every n_l >= 3 n_in): prod_{l<L} (floor(n_l/n_in) + 1)^n_in * sum_{j<=n_in} C(n_L, j)."""
    if not hidden or min(hidden) < 3 * n_in:
        return None
    return prod((n // n_in + 1) ** n_in for n in hidden[:-1]) * _arrangement(hidden[-1], n_in)


def bounds(n_in: int, hidden: list[int], *, residual: bool = False, leaky: bool = False) -> dict[str, int | None]:
    """The named bounds for a ReLU MLP; a lower bound whose width condition fails is None.

    For a residual net only what is proven for it: the trivial bound and `residual_upper`; for a plain
    leaky ReLU net the trivial bound and Montufar 2017's (see `residual_upper` for why it holds).

    >>> bounds(2, [8, 8])["serra2018_upper"]
    1369
    >>> bounds(2, [2, 2], residual=True)
    {'trivial_upper': 16, 'residual_upper': 16}
    """
    if not isinstance(n_in, int) or isinstance(n_in, bool) or n_in < 1:
        raise SpecError("n_in", "a positive integer (the input dimension)", n_in)
    hidden = list(hidden)
    if any(not isinstance(n, int) or isinstance(n, bool) or n < 1 for n in hidden):
        raise SpecError("hidden", "a list of positive integer widths", hidden)
    if residual:
        return {"trivial_upper": 2 ** sum(hidden), "residual_upper": residual_upper(n_in, hidden)}
    if leaky:
        return {"trivial_upper": 2 ** sum(hidden), "montufar2017_upper": montufar2017_upper(n_in, hidden)}
    return {
        "trivial_upper": 2 ** sum(hidden),
        "montufar2014_lower": montufar2014_lower(n_in, hidden),
        "montufar2017_upper": montufar2017_upper(n_in, hidden),
        "serra2018_upper": serra_upper(n_in, hidden),
        "serra2018_lower": serra_lower(n_in, hidden),
    }


def upper_bound(n_in: int, hidden: list[int], *, residual: bool = False, leaky: bool = False) -> tuple[int, str]:
    """The tightest upper bound proven for the architecture, and its name for a reader.

    >>> upper_bound(2, [2, 2])
    (11, 'Serra et al. 2018 upper bound')
    >>> upper_bound(2, [2, 2], residual=True)
    (16, "residual-net upper bound (mlplab's own proof: docs/architecture.md, Geometry)")
    >>> upper_bound(2, [2, 2], leaky=True)
    (16, "Montufar 2017's form for leaky ReLU (mlplab's own proof: docs/architecture.md, Geometry)")

    With one input the same theorems count pieces of a curve: one hidden layer of n units bends the line
    at most n times (Serra's sum_{j <= 1} C(n, j) = n + 1); deeper nets get Serra's bound with
    n_in = 1, which is Montufar 2017's product prod_l (n_l + 1) once every width is at least 2 (the
    sum of the widths plus one is not a bound for them: compositions of bends multiply).

    >>> upper_bound(1, [10])
    (11, 'one hidden layer of 10 units: at most 11 pieces (Serra et al. 2018, one input)')
    >>> upper_bound(1, [8, 8])
    (81, 'Serra et al. 2018 upper bound, one input (= prod (n_l + 1))')
    """
    named = bounds(n_in, hidden, residual=residual, leaky=leaky)
    if n_in == 1 and not residual and not leaky:
        value = int(named["serra2018_upper"])
        if len(hidden) == 1:
            return value, f"one hidden layer of {hidden[0]} units: at most {value} pieces (Serra et al. 2018, one input)"
        same = value == prod(n + 1 for n in hidden)
        return value, "Serra et al. 2018 upper bound, one input" + (" (= prod (n_l + 1))" if same else "")
    if residual:
        return int(named["residual_upper"]), "residual-net upper bound (mlplab's own proof: docs/architecture.md, Geometry)"
    if leaky:
        return int(named["montufar2017_upper"]), "Montufar 2017's form for leaky ReLU (mlplab's own proof: docs/architecture.md, Geometry)"
    return int(named["serra2018_upper"]), "Serra et al. 2018 upper bound"
