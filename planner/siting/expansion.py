"""Expansion planning on a coverage matrix: new sites, relocations and upgrades under a budget.

One model decides, within a budget, which candidate sites to open, which existing
stations to close (a *relocation*: each closed station is paired with an opened site, so
closing is only ever part of a move) and which sites to upgrade (an upgrade makes a site
cover with a larger radius: it is its own coverage column, e.g. a station or village
center promoted to a sub-center). It maximises the covered weight (population):

``max Σ w_g y_g`` over binary ``x`` (open candidates), ``c`` (close existing), ``u``
(upgrades) and ``y_g ∈ [0, 1]`` with

* ``y_g ≤ Σ_e a_ge (1 − c_e) + Σ_j a_gj x_j + Σ_k a_gk u_k`` (row ``g`` covered);
* ``new_cost · (Σx − Σc) + relocation_cost · Σc + Σ_k upgrade_cost_k u_k ≤ budget``;
* ``Σc ≤ Σx`` (every closure has its opening) and ``Σc ≤ max_relocations``;
* ``c_e + Σ_{k upgrades e} u_k ≤ 1`` (a closed station is not upgraded, one upgrade per
  station).

A second MIP then keeps the covered weight and takes, among the plans reaching it, one
with the fewest closures, then the fewest actions; so no station is closed and nothing is
bought unless it adds coverage (every action's ``gain`` is positive when both stages are
optimal). Demand rows with zero weight or no covering column drop out and rows with the
same covering columns are merged before solving.

Gain of an action: the covered weight it adds *when it is added last*, i.e. the plan's
covered weight minus that of the same plan without the action (for a relocation:
without the opening and with the station kept open). Gains do not in general sum to the
plan's total gain (two actions may cover the same village).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment

from planner.errors import PlannerError
from planner.siting.expansion_mip import Choice, ExpansionModel, Prices, Roles, solve_expansion
from planner.siting.inputs import as_cover, check_fixed, check_options, check_weights
from planner.siting.reduction import round_bound
from planner.siting.strategies import relative_gap

#: Columns of :attr:`ExpansionResult.actions`.
ACTION_COLUMNS = ("action", "site", "closed", "cost", "gain")


@dataclass(frozen=True, eq=False)
class ExpansionResult:
    """An expansion plan with its certificate.

    Attributes
    ----------
    actions
        One row per action, by decreasing ``gain``: ``action`` (``"new"``,
        ``"relocate"`` or ``"upgrade"``), ``site`` (the column opened or the upgrade
        column), ``closed`` (the existing column a relocation closes, else -1), ``cost``
        and ``gain`` (see :mod:`planner.siting.expansion`).
    open
        Per column, open after the plan (existing stations not closed, opened sites,
        chosen upgrades).
    objective
        Covered weight after the plan.
    before
        Covered weight of the existing stations alone.
    bound
        Proven upper bound on the covered weight within the budget.
    gap
        ``(bound − objective) / objective``.
    status
        ``"optimal"`` (within ``mip_gap``) or ``"time_limit"``.
    spent
        Total cost of the actions.
    seconds
        Wall time of the call.
    covered
        Per demand row, covered after the plan.
    """

    actions: pd.DataFrame
    open: np.ndarray
    objective: float
    before: float
    bound: float
    gap: float
    status: str
    spent: float
    seconds: float
    covered: np.ndarray


PairCost = Callable[[np.ndarray, np.ndarray], np.ndarray]


def expand(
    cover: np.ndarray | sp.sparray | sp.spmatrix,
    weights: Sequence[float] | np.ndarray,
    *,
    existing: Sequence[int] | np.ndarray,
    budget: float,
    new_cost: float = 1.0,
    relocation_cost: float = 1.0,
    max_relocations: int = 0,
    closable: Sequence[int] | np.ndarray | None = None,
    upgrades: Sequence[int] | np.ndarray | None = None,
    upgrade_of: Sequence[int] | np.ndarray | None = None,
    upgrade_costs: float | Sequence[float] | np.ndarray = 1.0,
    pair_cost: PairCost | None = None,
    time_limit: float = 60.0,
    mip_gap: float = 1e-4,
) -> ExpansionResult:
    """Best use of a budget: open new sites, relocate existing stations, upgrade sites.

    Parameters
    ----------
    cover
        Coverage matrix (demand × column), e.g. from
        :func:`planner.siting.coverage_matrix`. Columns are existing stations, candidate
        sites and upgrade columns; every column that is neither existing nor an upgrade
        is a candidate.
    weights
        Demand weights (population), non-negative.
    existing
        Columns open now (existing stations).
    budget
        Money (or any unit of the costs) to spend; 0 changes nothing.
    new_cost, relocation_cost
        Cost of opening a candidate as a new site, and of one relocation (closing an
        existing station and opening a candidate in its stead). Positive.
    max_relocations
        Most existing stations closed (0: no relocation).
    closable
        The existing columns that may be closed (default: all); the others stay open.
    upgrades
        Upgrade columns: the coverage of a site once upgraded.
    upgrade_of
        Per upgrade column, the existing column it upgrades (it cannot be closed and
        upgraded both), or -1 for a site that is not among ``existing`` (a village
        center). Default all -1.
    upgrade_costs
        Cost of each upgrade (one number or one per upgrade column). Positive.
    pair_cost
        ``pair_cost(closed, opened)`` → cost matrix used to pair closed stations with
        opened sites (minimised; e.g. distances). Default: pair to maximise the weight a
        closed station and its opened site both cover.
    time_limit
        Seconds for the whole call.
    mip_gap
        Relative gap at which the coverage MIP stops.

    Returns
    -------
    ExpansionResult
    """
    t0 = time.perf_counter()
    check_options("mip", time_limit, mip_gap)
    a = as_cover(cover)
    n, m = a.shape
    w = check_weights(weights, n)
    roles = _roles(m, existing, closable, upgrades, upgrade_of)
    prices = _prices(budget, new_cost, relocation_cost, upgrade_costs, roles.upgrades.size)
    if not isinstance(max_relocations, int | np.integer) or max_relocations < 0:
        raise PlannerError(
            f"max_relocations must be a non-negative integer, got {max_relocations!r}"
        )
    model = ExpansionModel(a, w, roles, prices, int(max_relocations))
    choice, bound, status = solve_expansion(model, t0 + time_limit, mip_gap)
    open_mask = _open_mask(m, roles, choice)
    covered = a @ open_mask.astype(float) > 0
    objective = float(w[covered].sum())
    bound = round_bound(bound, w, objective)
    actions = _actions(a, w, open_mask, roles, prices, choice, pair_cost)
    return ExpansionResult(
        actions, open_mask, objective, float(w[a @ roles.existing_mask.astype(float) > 0].sum()),
        bound, relative_gap(objective, bound), status, float(actions["cost"].sum()),
        time.perf_counter() - t0, covered,
    )  # fmt: skip


def _roles(
    m: int,
    existing: Sequence[int] | np.ndarray,
    closable: Sequence[int] | np.ndarray | None,
    upgrades: Sequence[int] | np.ndarray | None,
    upgrade_of: Sequence[int] | np.ndarray | None,
) -> Roles:
    """Checked column roles."""
    ex = np.flatnonzero(check_fixed(existing, m))
    may_close = np.ones(ex.size, dtype=bool)
    if closable is not None:
        close_mask = check_fixed(closable, m)
        if (close_mask & ~check_fixed(ex, m)).any():
            raise PlannerError("closable must name existing columns")
        may_close = close_mask[ex]
    up = np.asarray([] if upgrades is None else upgrades, dtype=np.int64)
    up_mask = check_fixed(up, m)
    if up_mask.sum() != up.size:
        raise PlannerError("upgrades must not repeat a column")
    if (up_mask[ex]).any():
        raise PlannerError("a column cannot be both existing and an upgrade")
    of = np.full(up.size, -1, dtype=np.int64) if upgrade_of is None else np.asarray(upgrade_of)
    if of.shape != up.shape or (of.size and not np.issubdtype(of.dtype, np.integer)):
        raise PlannerError("upgrade_of must give one integer column per upgrade")
    if not np.isin(of[of >= 0], ex).all() or (of < -1).any():
        raise PlannerError("upgrade_of must name existing columns or -1")
    taken = check_fixed(ex, m) | up_mask
    return Roles(ex, may_close, np.flatnonzero(~taken), up, of.astype(np.int64))


def _prices(
    budget: float, new: float, relocation: float, upgrade: object, n_upgrades: int
) -> Prices:
    """Checked budget and positive costs."""
    if not np.isfinite(budget) or budget < 0:
        raise PlannerError(f"budget must be finite and ≥ 0, got {budget!r}")
    costs = np.broadcast_to(np.asarray(upgrade, dtype=float), (n_upgrades,)).copy()
    for name, value in (("new_cost", new), ("relocation_cost", relocation)):
        if not np.isfinite(value) or value <= 0:
            raise PlannerError(f"{name} must be finite and > 0, got {value!r}")
    if not np.isfinite(costs).all() or (costs <= 0).any():
        raise PlannerError("upgrade_costs must be finite and > 0")
    return Prices(float(budget), float(new), float(relocation), costs)


def _open_mask(m: int, roles: Roles, choice: Choice) -> np.ndarray:
    """Columns open after the plan."""
    mask = roles.existing_mask
    mask[roles.existing[choice.closed]] = False
    mask[roles.candidates[choice.opened]] = True
    mask[roles.upgrades[choice.upgraded]] = True
    return mask


def _pairs(
    a: sp.csr_array, w: np.ndarray, closed: np.ndarray, opened: np.ndarray,
    pair_cost: PairCost | None,
) -> dict[int, int]:  # fmt: skip
    """Opened column → the closed column it replaces."""
    if not closed.size:
        return {}
    if pair_cost is None:
        ac = sp.csc_array(a)
        cost = -(ac[:, closed].T @ (ac[:, opened] * w[:, None])).toarray()
    else:
        cost = np.asarray(pair_cost(closed, opened), dtype=float)
    rows, cols = linear_sum_assignment(cost)
    return {int(opened[c]): int(closed[r]) for r, c in zip(rows, cols, strict=True)}


def _actions(
    a: sp.csr_array, w: np.ndarray, open_mask: np.ndarray, roles: Roles, prices: Prices,
    choice: Choice, pair_cost: PairCost | None,
) -> pd.DataFrame:  # fmt: skip
    """The action table with each action's gain."""
    closed = roles.existing[choice.closed]
    opened = roles.candidates[choice.opened]
    pairs = _pairs(a, w, closed, opened, pair_cost)
    rows = [("relocate" if j in pairs else "new", int(j), pairs.get(int(j), -1),
             prices.relocation if j in pairs else prices.new) for j in opened]  # fmt: skip
    rows += [("upgrade", int(roles.upgrades[k]), -1, float(prices.upgrade[k]))
             for k in np.flatnonzero(choice.upgraded)]  # fmt: skip
    ac = sp.csc_array(a)
    counts = ac @ open_mask.astype(float)
    total = float(w[counts > 0].sum())
    gains = []
    for _, site, gone, _ in rows:
        without = counts - ac[:, [site]].toarray()[:, 0]
        if gone >= 0:
            without += ac[:, [gone]].toarray()[:, 0]
        gains.append(total - float(w[without > 0].sum()))
    table = pd.DataFrame(rows, columns=list(ACTION_COLUMNS[:4]))
    table["gain"] = np.asarray(gains, dtype=float)
    table = table.astype({"site": np.int64, "closed": np.int64, "cost": float})
    return table.sort_values(["gain", "site"], ascending=[False, True], kind="stable").reset_index(
        drop=True
    )
