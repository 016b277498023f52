"""The HiGHS models behind :func:`planner.siting.expansion.expand`: maximum coverage within
the budget, then the fewest closures and actions at that coverage."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from planner.errors import PlannerError
from planner.siting.cover_search import merge_identical_rows
from planner.siting.highs import MipOutcome, run_highs


@dataclass(frozen=True)
class Roles:
    """Column roles: existing stations (which may close, a mask over them), candidates,
    upgrade columns and what they upgrade."""

    existing: np.ndarray
    closable: np.ndarray
    candidates: np.ndarray
    upgrades: np.ndarray
    upgrade_of: np.ndarray

    @property
    def existing_mask(self) -> np.ndarray:
        """Boolean mask of the existing columns among all."""
        mask = np.zeros(self.existing.size + self.candidates.size + self.upgrades.size, bool)
        mask[self.existing] = True
        return mask


@dataclass(frozen=True)
class Prices:
    """Budget and unit costs."""

    budget: float
    new: float
    relocation: float
    upgrade: np.ndarray


class ExpansionModel(NamedTuple):
    """The instance: coverage, weights, column roles, prices and the relocation limit."""

    cover: sp.csr_array
    weights: np.ndarray
    roles: Roles
    prices: Prices
    max_relocations: int


class Choice(NamedTuple):
    """A plan: opened candidates, closed existing stations, chosen upgrades (masks)."""

    opened: np.ndarray
    closed: np.ndarray
    upgraded: np.ndarray


class _Arrays(NamedTuple):
    """HiGHS arrays over the columns ``x`` (candidates), ``c`` (existing), ``u``
    (upgrades), ``y`` (merged rows); the coverage objective is ``cost``."""

    matrix: sp.sparray
    cost: np.ndarray
    col_upper: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    integer: np.ndarray
    n_decisions: int


def solve_expansion(
    model: ExpansionModel, deadline: float, mip_gap: float
) -> tuple[Choice, float, str]:
    """The plan, an upper bound on its covered weight and the coverage MIP's status."""
    a, gw, constant = _reduced(model)
    arrays = _arrays(model, a, gw)
    first = _run(arrays, arrays.cost, True, deadline, mip_gap, np.zeros(arrays.cost.size))
    if first is None:
        raise PlannerError("expand: HiGHS found no plan, not even doing nothing")
    values = first.values
    second = _fewest_actions(model, arrays, values, deadline)
    if second is not None and arrays.cost @ second >= arrays.cost @ values - 1e-9 * (
        1.0 + abs(first.objective)
    ):
        values = second
    return _choice(model, values), constant + first.bound, first.status


def _reduced(model: ExpansionModel) -> tuple[sp.csr_array, np.ndarray, float]:
    """Rows with weight and a covering column, identical ones merged; rows that existing
    stations which stay open cover are a constant."""
    a, w, roles = model.cover, model.weights, model.roles
    stay = roles.existing if model.max_relocations == 0 else roles.existing[~roles.closable]
    fixed_cov = np.asarray(sp.csc_array(a)[:, stay].sum(axis=1)).ravel() > 0
    keep = np.flatnonzero(~fixed_cov & (w > 0) & (np.diff(a.indptr) > 0))
    sub = sp.csr_array(a[keep])
    group, first = merge_identical_rows(sub)
    gw = np.bincount(group, weights=w[keep], minlength=first.size)
    return sp.csr_array(sub[first]), gw, float(w[fixed_cov].sum())


def _arrays(model: ExpansionModel, a: sp.csr_array, gw: np.ndarray) -> _Arrays:
    """Coverage, budget, pairing, relocation-limit and one-change-per-station rows."""
    roles, prices = model.roles, model.prices
    ac = sp.csc_array(a)
    nx, ne, nu, ng = roles.candidates.size, roles.existing.size, roles.upgrades.size, a.shape[0]
    sign = np.concatenate((-np.ones(nx), np.ones(ne), -np.ones(nu)))
    by_existing = ac[:, roles.existing]
    decide = sp.hstack([ac[:, roles.candidates], by_existing, ac[:, roles.upgrades]])
    budget_row = np.concatenate((
        np.full(nx, prices.new), np.full(ne, prices.relocation - prices.new), prices.upgrade
    ))  # fmt: skip
    pairing = np.concatenate((-np.ones(nx), np.ones(ne), np.zeros(nu)))
    limit = np.concatenate((np.zeros(nx), np.ones(ne), np.zeros(nu)))
    once = _once_rows(roles, nx)
    n_once = once.shape[0]
    matrix = sp.vstack([
        sp.hstack([sp.csr_array(decide.multiply(sign[None, :])), sp.eye_array(ng)]),
        sp.hstack([sp.csr_array(np.vstack((budget_row, pairing, limit))),
                   sp.csr_array((3, ng))]),
        sp.hstack([once, sp.csr_array((n_once, ng))]),
    ]).tocsr()  # fmt: skip
    upper = np.concatenate((
        np.asarray(by_existing.sum(axis=1)).ravel(),
        [prices.budget, 0.0, float(model.max_relocations)], np.ones(n_once),
    ))  # fmt: skip
    col_upper = np.ones(nx + ne + nu + ng)
    col_upper[nx : nx + ne] = roles.closable & (model.max_relocations > 0)
    return _Arrays(
        matrix, np.concatenate((np.zeros(nx + ne + nu), gw)), col_upper,
        np.full(matrix.shape[0], -np.inf), upper, np.arange(col_upper.size) < nx + ne + nu,
        nx + ne + nu,
    )  # fmt: skip


def _once_rows(roles: Roles, nx: int) -> sp.csr_array:
    """``c_e + Σ_{k upgrades e} u_k ≤ 1`` for every existing station with an upgrade."""
    ne, nu = roles.existing.size, roles.upgrades.size
    bases = np.unique(roles.upgrade_of[roles.upgrade_of >= 0])
    position = np.searchsorted(roles.existing, bases)
    row_of = {int(b): i for i, b in enumerate(bases)}
    rows = list(range(bases.size)) + [row_of[int(b)] for b in roles.upgrade_of if b >= 0]
    cols = [nx + int(p) for p in position] + [
        nx + ne + k for k in np.flatnonzero(roles.upgrade_of >= 0)
    ]
    return sp.csr_array((np.ones(len(rows)), (rows, cols)), shape=(bases.size, nx + ne + nu))


def _run(
    arrays: _Arrays, cost: np.ndarray, maximize: bool, deadline: float, mip_gap: float,
    start: np.ndarray | None, extra: tuple[np.ndarray, float] | None = None,
) -> MipOutcome | None:  # fmt: skip
    """One HiGHS solve of the arrays, optionally with one more ``row ≥ value``."""
    matrix, lower, upper = arrays.matrix, arrays.row_lower, arrays.row_upper
    if extra is not None:
        matrix = sp.vstack([matrix, sp.csr_array(extra[0][None, :])])
        lower = np.concatenate((lower, [extra[1]]))
        upper = np.concatenate((upper, [np.inf]))
    return run_highs(
        matrix, cost=cost, col_upper=arrays.col_upper, row_lower=lower, row_upper=upper,
        integer=arrays.integer, maximize=maximize, time_limit=deadline - time.perf_counter(),
        mip_gap=mip_gap, start=start,
    )  # fmt: skip


def _fewest_actions(
    model: ExpansionModel, arrays: _Arrays, values: np.ndarray, deadline: float
) -> np.ndarray | None:
    """Among plans covering as much as ``values``, the fewest closures, then actions."""
    roles = model.roles
    nx, ne = roles.candidates.size, roles.existing.size
    d = arrays.n_decisions
    decisions = values[:d] > 0.5
    if not decisions.any():
        return None
    penalty = np.zeros(arrays.cost.size)
    penalty[:d] = 1.0
    penalty[nx : nx + ne] = d + 1.0
    reached = float(arrays.cost @ values)
    need = reached - 1e-9 * (1.0 + abs(reached))
    outcome = _run(arrays, penalty, False, deadline, 0.0, values, (arrays.cost, need))
    if outcome is None:
        return None
    return outcome.values


def _choice(model: ExpansionModel, values: np.ndarray) -> Choice:
    """Masks of the plan from the column values."""
    roles = model.roles
    nx, ne, nu = roles.candidates.size, roles.existing.size, roles.upgrades.size
    on = values > 0.5
    return Choice(on[:nx], on[nx : nx + ne], on[nx + ne : nx + ne + nu])
