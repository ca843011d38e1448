"""Bounds on the number of linear regions of a ReLU MLP with n_in inputs and hidden widths n_1..n_L.

Formulas (our own code) from Montufar et al. 2014, Montufar 2017 and Serra, Tjandraatmadja,
Ramalingam 2018 ("Bounding and Counting Linear Regions of Deep Neural Networks", ICML).
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


def bounds(n_in: int, hidden: list[int]) -> dict[str, int | None]:
    """All the named bounds for a plain ReLU MLP; a lower bound whose width condition fails is None.

    >>> bounds(2, [8, 8])["serra2018_upper"]
    1369
    """
    if not isinstance(n_in, int) or isinstance(n_in, bool) or n_in < 1:
        raise SpecError("n_in", "a positive integer (the input dimension)", n_in)
    hidden = list(hidden)
    if any(not isinstance(n, int) or isinstance(n, bool) or n < 1 for n in hidden):
        raise SpecError("hidden", "a list of positive integer widths", hidden)
    return {
        "trivial_upper": 2 ** sum(hidden),
        "montufar2014_lower": montufar2014_lower(n_in, hidden),
        "montufar2017_upper": montufar2017_upper(n_in, hidden),
        "serra2018_upper": serra_upper(n_in, hidden),
        "serra2018_lower": serra_lower(n_in, hidden),
    }
