"""Benchmark: the output step against the floor of writing the same frames with pyogrio.

The county region of ``benchmarks/county.py`` (generated there, or reused) is planned
once in this process; then :func:`planner.outputs.writers.write_outputs` writes every
output (GeoPackages, grids in each format the scenario asks for, CSV tables,
``summary.xlsx``, plots, ``report.html``, ``map.html``, ``summary.json``) into a fresh
folder, and — as the floor — the same vector frames are written with
``pyogrio.write_dataframe`` alone (``coverage.gpkg`` layers, ``proposals.gpkg`` and one
file per grid format, each in its output CRS) and the same tables with
``DataFrame.to_csv``. The floor has no map, report, plots or workbook, so the ratio is an
upper bound of what the extras and the atomic staging cost. Run::

    .venv/bin/python benchmarks/outputs.py [--repeat 3]

The last line printed is ``write_outputs_seconds=<best> floor_seconds=<best> ratio=<r>``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# county.py is the sibling script in this folder
from county import BENCH, make_region, region_arguments, region_dir


def floor_write(plan: Any, folder: Path) -> None:
    """The same frames written with pyogrio (and pandas for tables) alone."""
    import pyogrio

    from planner.outputs.sheets import canonical_sheets
    from planner.outputs.vector import FORMATS
    from planner.outputs.writers import coverage_layers

    crs = plan.scenario.outputs.crs
    for name, frame in coverage_layers(plan).items():
        pyogrio.write_dataframe(frame.to_crs(crs), folder / "coverage.gpkg", layer=name)
    pyogrio.write_dataframe(plan.proposals.to_crs(crs), folder / "proposals.gpkg")
    if plan.grids is not None:
        for fmt in plan.scenario.outputs.formats:
            spec = FORMATS[fmt]
            grids = plan.grids.to_crs(spec.crs or crs)
            if spec.driver is None:  # GeoParquet: geopandas, as the planner does
                grids.to_parquet(folder / f"grids{spec.suffix}")
            else:
                pyogrio.write_dataframe(grids, folder / f"grids{spec.suffix}", driver=spec.driver)
    for name, table in canonical_sheets(plan).items():
        table.to_csv(folder / f"{name}.csv", index=False)


def timed(write: Callable[[Path], None], repeat: int) -> list[float]:
    """Wall seconds of ``write`` into a fresh folder, ``repeat`` times."""
    seconds = []
    for _ in range(repeat):
        folder = Path(tempfile.mkdtemp(prefix="bench-out-", dir=BENCH))
        start = time.perf_counter()
        write(folder / "out")
        seconds.append(time.perf_counter() - start)
        shutil.rmtree(folder)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    region_arguments(parser)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    args.reuse = True
    folder = region_dir(args)
    scenario_path = make_region(args, folder)

    from planner.outputs.writers import write_outputs
    from planner.pipeline import run
    from planner.scenario import load_scenario

    plan = run(load_scenario(scenario_path))

    def ours(out: Path) -> None:
        write_outputs(plan, out)

    def floor(out: Path) -> None:
        out.mkdir()
        floor_write(plan, out)

    planner_s, floor_s = timed(ours, args.repeat), timed(floor, args.repeat)
    for label, runs in (("write_outputs", planner_s), ("pyogrio floor", floor_s)):
        print(
            f"{label:<14} best {min(runs):6.2f} s  median {statistics.median(runs):6.2f} s  "
            f"runs {', '.join(f'{s:.2f}' for s in runs)}"
        )
    ratio = min(planner_s) / min(floor_s)
    print(f"write_outputs_seconds={min(planner_s):.2f} floor_seconds={min(floor_s):.2f} "
          f"ratio={ratio:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
