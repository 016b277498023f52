"""Tests of planner.siting.median_search: interchange ends one-swap optimal."""

from __future__ import annotations

import itertools
import time

import numpy as np
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from siting_helpers import FAST

from planner.siting.median_search import Pairs, median_interchange, total_cost


@given(st.integers(0, 2**31 - 1), st.integers(1, 4))
@FAST
def test_median_interchange_ends_one_swap_optimal(seed, p):
    rng = np.random.default_rng(seed)
    cost = rng.integers(0, 20, size=(15, 7)).astype(float)
    w = rng.integers(1, 10, size=15).astype(float)
    pairs = Pairs.build(_dense_csr(cost), w)
    fixed = np.zeros(7, dtype=bool)
    start = np.arange(7) < p
    is_open = median_interchange(pairs, start, fixed, deadline=time.perf_counter() + 60)
    here = total_cost(pairs, is_open)
    assert here <= total_cost(pairs, start)
    for out, into in itertools.product(np.flatnonzero(is_open), np.flatnonzero(~is_open)):
        other = is_open.copy()
        other[[out, into]] = [False, True]
        assert total_cost(pairs, other) >= here - 1e-9


def _dense_csr(cost: np.ndarray) -> sp.csr_array:
    """All pairs stored, zeros included."""
    n, m = cost.shape
    return sp.csr_array(
        (cost.ravel(), np.tile(np.arange(m), n), np.arange(0, n * m + 1, m)), shape=(n, m)
    )
