"""Tests of planner.siting.expand (new sites, relocations, upgrades under a budget) against
brute-force enumeration of every action set."""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from siting_helpers import FAST

from planner.errors import PlannerError
from planner.siting import expand


class Case(NamedTuple):
    cover: np.ndarray
    w: np.ndarray
    existing: list[int]
    upgrades: list[int]
    upgrade_of: list[int]
    upgrade_costs: np.ndarray
    budget: float
    new_cost: float
    relocation_cost: float
    k: int
    closable: list[int]


def _subsets(items):
    return itertools.chain.from_iterable(
        itertools.combinations(items, r) for r in range(len(items) + 1)
    )


def _plans(case: Case):
    """Every feasible plan: (covered weight, closures, actions, open columns)."""
    m = case.cover.shape[1]
    cands = [j for j in range(m) if j not in case.existing and j not in case.upgrades]
    for opened in _subsets(cands):
        for closed in _subsets(case.closable):
            if len(closed) > min(case.k, len(opened)):
                continue
            for ups in _subsets(range(len(case.upgrades))):
                bases = [case.upgrade_of[u] for u in ups if case.upgrade_of[u] >= 0]
                if len(set(bases)) < len(bases) or set(bases) & set(closed):
                    continue
                spent = (case.new_cost * (len(opened) - len(closed))
                         + case.relocation_cost * len(closed)
                         + sum(case.upgrade_costs[u] for u in ups))  # fmt: skip
                if spent > case.budget + 1e-9:
                    continue
                cols = ({*case.existing} - {*closed}) | {*opened}
                cols |= {case.upgrades[u] for u in ups}
                yield _covered(case, cols), len(closed), len(opened) + len(ups), cols


def _covered(case: Case, cols) -> float:
    rows = {i for i in range(case.cover.shape[0]) for j in cols if case.cover[i, j]}
    return float(sum(case.w[i] for i in rows))


@st.composite
def cases(draw):
    n = draw(st.integers(1, 7))
    m = draw(st.integers(1, 7))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    cover = rng.random((n, m)) < draw(st.sampled_from([0.2, 0.4, 0.6]))
    w = rng.integers(0, 10, n).astype(float)
    order = rng.permutation(m)
    n_ex = draw(st.integers(0, min(3, m)))
    n_up = draw(st.integers(0, min(2, m - n_ex)))
    existing = sorted(int(j) for j in order[:n_ex])
    upgrades = [int(j) for j in order[n_ex : n_ex + n_up]]
    upgrade_of = [draw(st.sampled_from([-1, *existing])) for _ in upgrades]
    return Case(
        cover, w, existing, upgrades, upgrade_of,
        rng.choice([0.5, 1.0, 2.0], size=n_up), float(draw(st.sampled_from([0, 1, 2, 3.5]))),
        draw(st.sampled_from([1.0, 1.5])), draw(st.sampled_from([0.5, 1.0, 2.0])),
        draw(st.integers(0, 2)), [j for j in existing if draw(st.booleans())],
    )  # fmt: skip


def _solve(case: Case, **kwargs):
    return expand(
        case.cover, case.w, existing=case.existing, budget=case.budget,
        new_cost=case.new_cost, relocation_cost=case.relocation_cost, max_relocations=case.k,
        closable=case.closable, upgrades=case.upgrades, upgrade_of=case.upgrade_of,
        upgrade_costs=case.upgrade_costs,
        **kwargs,
    )  # fmt: skip


@FAST
@given(cases())
def test_expand_matches_brute_force(case):
    result = _solve(case)
    plans = list(_plans(case))
    best = max(p[0] for p in plans)
    assert result.status == "optimal"
    assert result.objective == pytest.approx(best)
    assert result.bound >= result.objective - 1e-9 and result.gap <= 1e-4
    # lexicographic: fewest closures, then fewest actions, at the best coverage
    fewest = min((p[1], p[2]) for p in plans if p[0] == pytest.approx(best))
    actions = result.actions
    closures = int((actions["action"] == "relocate").sum())
    assert (closures, len(actions)) == fewest
    opened = set(actions["site"])
    assert {j for j in range(case.cover.shape[1]) if result.open[j]} == (
        ({*case.existing} - {*actions["closed"]}) | opened
    )
    assert _covered(case, set(np.flatnonzero(result.open))) == pytest.approx(result.objective)
    assert result.before == pytest.approx(_covered(case, set(case.existing)))


@FAST
@given(cases())
def test_expand_costs_and_gains(case):
    result = _solve(case)
    actions = result.actions
    assert result.spent <= case.budget + 1e-9
    prices = {"new": case.new_cost, "relocate": case.relocation_cost}
    for row in actions.itertuples():
        expected = (case.upgrade_costs[case.upgrades.index(row.site)]
                    if row.action == "upgrade" else prices[row.action])  # fmt: skip
        assert row.cost == expected
        cols = set(np.flatnonzero(result.open)) - {row.site}
        if row.closed >= 0:
            assert row.closed in case.closable and not result.open[row.closed]
            cols.add(row.closed)
        assert row.gain == pytest.approx(result.objective - _covered(case, cols))
        assert row.gain > 0  # nothing is bought, and nothing closed, without a gain
    assert list(actions["gain"]) == sorted(actions["gain"], reverse=True)


@FAST
@given(cases())
def test_closing_never_helps_unless_something_better_opens(case):
    result = _solve(case)
    if (result.actions["action"] == "relocate").any():
        stay = max(p[0] for p in _plans(case._replace(k=0)))
        assert result.objective > stay


@FAST
@given(cases())
def test_zero_budget_changes_nothing(case):
    result = _solve(case._replace(budget=0.0))
    assert result.actions.empty and result.spent == 0.0
    assert result.objective == pytest.approx(result.before)
    assert set(np.flatnonzero(result.open)) == set(case.existing)


def test_relocation_moves_a_station_to_where_people_are():
    # column 0: the station, reaching 1 person; column 1 reaches 10; only a move is affordable
    cover = sp.csr_array(np.array([[1, 0, 0], [0, 1, 0], [0, 1, 1], [0, 0, 1]]))
    w = np.array([1.0, 6.0, 4.0, 2.0])
    result = expand(cover, w, existing=[0], budget=1.0, new_cost=2.0, relocation_cost=1.0,
                    max_relocations=1)  # fmt: skip
    assert result.actions[["action", "site", "closed"]].values.tolist() == [["relocate", 1, 0]]
    assert (result.before, result.objective) == (1.0, 10.0)
    assert result.actions["gain"].tolist() == [9.0]
    kept = expand(cover, w, existing=[0], budget=1.0, new_cost=2.0, max_relocations=0)
    assert kept.actions.empty and kept.objective == 1.0


def test_upgrade_of_a_station_cannot_also_close_it():
    # column 2 is station 0 upgraded; closing 0 and upgrading it would double count
    cover = np.array([[1, 0, 1], [0, 0, 1], [0, 1, 0]])
    w = np.array([3.0, 5.0, 4.0])
    result = expand(cover, w, existing=[0], budget=2.0, relocation_cost=1.0,
                    max_relocations=1, upgrades=[2], upgrade_of=[0])  # fmt: skip
    assert sorted(result.actions["action"]) == ["new", "upgrade"]
    assert result.objective == 12.0


def test_pair_cost_chooses_the_pairs():
    cover = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    w = np.array([0.0, 0.0, 5.0, 5.0])
    distance = np.array([[0.0, 9.0, 1.0, 8.0], [9.0, 0.0, 8.0, 1.0]])
    result = expand(cover, w, existing=[0, 1], budget=2.0, new_cost=3.0, max_relocations=2,
                    pair_cost=lambda closed, opened: distance[np.ix_(closed, opened)])  # fmt: skip
    pairs = dict(zip(result.actions["site"], result.actions["closed"], strict=True))
    assert pairs == {2: 0, 3: 1}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"budget": -1.0}, "budget"),
        ({"budget": 1.0, "new_cost": 0.0}, "new_cost"),
        ({"budget": 1.0, "upgrades": [1], "upgrade_costs": 0.0}, "upgrade_costs"),
        ({"budget": 1.0, "upgrades": [0]}, "both existing"),
        ({"budget": 1.0, "upgrades": [1], "upgrade_of": [2]}, "upgrade_of"),
        ({"budget": 1.0, "max_relocations": -1}, "max_relocations"),
        ({"budget": 1.0, "closable": [1]}, "closable"),
    ],
)
def test_expand_rejects_bad_input(kwargs, message):
    with pytest.raises(PlannerError, match=message):
        expand(np.eye(3), np.ones(3), existing=[0], **kwargs)
