"""Writing small regions and layers for the layer and reader tests, and finding problems."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from conftest import SCENARIO, tiny_frames

from planner.layers import collect_layers
from planner.scenario import load_scenario


def write_region(tmp_path: Path, frames: dict | None = None, scenario: str = SCENARIO) -> Path:
    frames = tiny_frames() if frames is None else frames
    for kind, frame in frames.items():
        frame.to_file(tmp_path / f"{kind}.gpkg", driver="GPKG")
    path = tmp_path / "scenario.toml"
    path.write_text(scenario, encoding="utf-8")
    return path


def write_without_crs(frame: gpd.GeoDataFrame, path: Path) -> None:
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        frame.set_crs(None, allow_override=True).to_file(path, driver="GPKG")


def problems_of(path: Path, severity: str = "error") -> list:
    layers = collect_layers(load_scenario(path))
    return [p for p in layers.problems if p.severity == severity]


def only(problems: list, text: str):
    found = [p for p in problems if text in p.problem]
    assert found, f"no problem mentions {text!r}: {[str(p) for p in problems]}"
    return found


def ledger(frames: dict) -> pd.DataFrame:
    villages = frames["villages"]
    return pd.DataFrame(
        {
            "编码": villages["id"],
            "名称": villages["name"],
            "经度": villages.geometry.x,
            "纬度": villages.geometry.y,
            "人口": villages["population"],
        }
    )


LEDGER_SCENARIO = SCENARIO.replace('path = "villages.gpkg"', 'path = "villages.csv"')


def write_ledger(
    tmp_path: Path, table: pd.DataFrame, suffix: str = ".csv", extra: str = ""
) -> Path:
    """The tiny region with the villages as a ledger (``extra`` lines go in its table)."""
    frames = tiny_frames()
    scenario = SCENARIO.replace('path = "villages.gpkg"', f'path = "villages{suffix}"{extra}')
    path = write_region(tmp_path, frames, scenario)
    (tmp_path / "villages.gpkg").unlink()
    target = tmp_path / f"villages{suffix}"
    if suffix == ".csv":
        table.to_csv(target, index=False)
    elif suffix == ".xlsx":
        table.to_excel(target, index=False)
    else:
        table.to_parquet(target)
    return path


def one(problems: list, text: str):
    """The single problem whose text contains ``text``."""
    found = only(problems, text)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]
