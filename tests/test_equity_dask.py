"""The adequacy and equity step gives the same answer on the Dask engine as in process."""

from __future__ import annotations

from contextlib import contextmanager

import pandas as pd

from planner.pipeline import run
from planner.scenario import load_scenario
from planner.service_load import SERVICE_TABLES


def test_dask_run_gives_the_in_process_tables_and_summary(tiny_region, client, monkeypatch):
    @contextmanager
    def given_client(scheduler=None):
        yield client

    monkeypatch.setattr("planner.distributed.dask_client", given_client)
    scenario = load_scenario(tiny_region)
    local, spread = run(scenario), run(scenario, engine="dask")
    for key in ("adequacy", "equity"):
        assert local.summary[key] == spread.summary[key]
    for name in SERVICE_TABLES:
        a, b = local.tables[name], spread.tables[name]
        assert len(a) > 0
        pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b))
