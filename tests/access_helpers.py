"""PySAL ``access``, the peer of the accessibility tests, on a dense cost matrix."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from access import Access


def pysal(cost, pop, supply, *, enhanced=False, **options) -> np.ndarray:
    """PySAL ``access`` scores on the finite pairs of ``cost`` (unreached demand: 0)."""
    i, j = np.nonzero(np.isfinite(cost))
    with warnings.catch_warnings():  # PySAL access 1.1 passes inplace= to pandas
        warnings.filterwarnings("ignore", "The inplace keyword", pd.errors.Pandas4Warning)
        model = Access(
            demand_df=pd.DataFrame({"geoid": range(len(pop)), "pop": pop}),
            demand_index="geoid",
            demand_value="pop",
            supply_df=pd.DataFrame({"geoid": range(len(supply)), "supply": supply}),
            supply_index="geoid",
            supply_value="supply",
            cost_df=pd.DataFrame({"origin": i, "dest": j, "cost": cost[i, j]}),
            cost_origin="origin",
            cost_dest="dest",
            cost_name="cost",
        )
        run = model.enhanced_two_stage_fca if enhanced else model.two_stage_fca
        out = run(**options)
    return out.iloc[:, 0].reindex(range(len(pop))).fillna(0.0).to_numpy()
