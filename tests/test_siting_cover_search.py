"""Tests of planner.siting.cover_search: row merging and interchange."""

from __future__ import annotations

import itertools
import time

import numpy as np
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from siting_helpers import FAST

from planner.siting.cover_search import cover_interchange, merge_identical_rows


def test_merge_identical_rows_is_exact():
    rng = np.random.default_rng(5)
    a = sp.csr_array(rng.random((300, 6)) < 0.3)
    group, first = merge_identical_rows(a)
    dense = a.toarray()
    patterns = {}
    for i, row in enumerate(map(tuple, dense)):
        patterns.setdefault(row, []).append(i)
    assert len(first) == len(patterns)
    for rows in patterns.values():
        assert len(set(group[rows])) == 1
        assert first[group[rows[0]]] == rows[0]


@given(st.integers(0, 2**31 - 1), st.integers(1, 4))
@FAST
def test_cover_interchange_ends_one_swap_optimal(seed, p):
    rng = np.random.default_rng(seed)
    a = sp.csr_array((rng.random((25, 7)) < 0.3).astype(float))
    w = rng.integers(1, 30, size=25).astype(float)
    start = np.arange(p)
    sites = cover_interchange(a, w, start, deadline=time.perf_counter() + 60)
    dense = a.toarray() > 0

    def value(s):
        return w[dense[:, list(s)].any(axis=1)].sum()

    here = value(sites)
    assert here >= value(start)
    for out, into in itertools.product(sites, set(range(7)) - set(sites.tolist())):
        assert value(set(sites.tolist()) - {out} | {into}) <= here
