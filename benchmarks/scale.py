"""Benchmark: whole ``planner run`` at province and national sizes, in-process and on Dask.

For every size a deterministic synthetic region is generated (one township per 15
villages, as 600,000 villages in 40,000 townships; villages without polygons) and written
with the national scenario preset (straight-line coverage of every level; siting, grids,
map and report off). Each engine then runs ``planner run`` on it in a fresh subprocess,
so peaks do not mix; the peak memory is that of the whole process tree (Dask workers
included), sampled every 0.1 s. Run::

    .venv/bin/python benchmarks/scale.py [--sizes 10k,100k,600k] [--engines inprocess,dask]
    .venv/bin/python benchmarks/scale.py --scenario SCENARIO.toml --out-root FOLDER

``--scenario`` measures a given scenario instead (outputs under ``--out-root``). Each row
also gives the peak of the driving process and of the largest other process (a Dask
worker; the local cluster's workers are child processes of the run).

Regions are cached in ``--data`` (default ``outputs/bench-scale``) and reused. The target
for the national size in-process is ≤ 120 s and ≤ 8 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

from planner.synth.region import generate_region, write_region

VILLAGES_PER_TOWNSHIP = 15
ENGINES = ("inprocess", "dask")


def parse_size(text: str) -> int:
    """``"600k"`` → 600000; ``"1.2m"`` → 1200000; plain integers as they are."""
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * scale)


def region_scenario(villages: int, data: Path) -> Path:
    """The national scenario of a region of ``villages`` villages (generated once)."""
    folder = data / f"v{villages}"
    scenario = folder / "scenario.toml"
    if not scenario.exists():
        start = time.perf_counter()
        region = generate_region(
            villages=villages,
            townships=max(1, villages // VILLAGES_PER_TOWNSHIP),
            seed=0,
            village_areas=False,
            name=f"scale-{villages}",
        )
        write_region(region, folder, national=True, outputs_dir="out")
        print(f"generated {villages:,} villages in {time.perf_counter() - start:.0f} s")
    return scenario


def process_rss(proc: psutil.Process) -> dict[int, int]:
    """Resident memory of a process and each of its descendants, in bytes, by pid."""
    rss = {}
    for p in [proc, *proc.children(recursive=True)]:
        try:
            rss[p.pid] = p.memory_info().rss
        except psutil.Error:
            continue
    return rss


def measure(scenario: Path, engine: str, out_root: Path | None = None) -> dict[str, float]:
    """Run ``planner run`` once in a subprocess: wall seconds, peak memory (MB) of the
    whole tree, of the driving process and of the largest other process, and what the
    run itself reports."""
    out = (out_root or scenario.parent) / f"out-{engine}"
    command = [sys.executable, "-m", "planner.cli", "run", str(scenario), "--out", str(out)]
    env = {**os.environ, "PLANNER_QUIET": "1", "CI": "true"}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [*command, "--engine", engine], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    watched, peak, each = psutil.Process(proc.pid), 0, {}
    while proc.poll() is None:
        rss = process_rss(watched)
        peak = max(peak, sum(rss.values()))
        each = {pid: max(each.get(pid, 0), value) for pid, value in {**each, **rss}.items()}
        time.sleep(0.1)
    seconds = time.perf_counter() - start
    errors = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
    if proc.returncode:
        raise SystemExit(f"planner run failed ({engine}, {scenario}):\n{errors}")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    others = [v for pid, v in each.items() if pid != proc.pid]
    return {
        "seconds": seconds,
        "coverage_s": summary["timings"]["coverage"],
        "peak_mb": peak / 2**20,
        "driver_peak_mb": each.get(proc.pid, 0) / 2**20,
        "worker_peak_mb": max(others, default=0) / 2**20,
        "processes": 1 + len(others),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10k,100k,600k", help="village counts, e.g. 10k,600k")
    parser.add_argument("--engines", default=",".join(ENGINES), help="inprocess,dask")
    parser.add_argument("--data", type=Path, default=Path("outputs/bench-scale"))
    parser.add_argument("--scenario", type=Path, help="measure this scenario instead")
    parser.add_argument("--out-root", type=Path, help="folder for the outputs of --scenario")
    args = parser.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if unknown := set(engines) - set(ENGINES):
        parser.error(f"unknown engine(s) {sorted(unknown)}; use {', '.join(ENGINES)}")
    regions = (
        [(str(args.scenario), args.scenario)]
        if args.scenario
        else [
            (f"{v:,}", region_scenario(v, args.data))
            for v in map(parse_size, args.sizes.split(","))
        ]
    )
    rows = []
    for label, scenario in regions:
        for engine in engines:
            result = measure(scenario, engine, args.out_root)
            rows.append((label, engine, result))
            print(
                f"{label:>9}  {engine:<9}  {result['seconds']:7.1f} s  "
                f"(coverage {result['coverage_s']:6.1f} s)  peak {result['peak_mb']:7,.0f} MB",
                flush=True,
            )
    print()
    print(
        "| region | engine | run (s) | coverage step (s) | peak, all processes (MB) | "
        "driver (MB) | largest worker (MB) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for label, engine, r in rows:
        print(
            f"| {label} | {engine} | {r['seconds']:.1f} | {r['coverage_s']:.1f} | "
            f"{r['peak_mb']:,.0f} | {r['driver_peak_mb']:,.0f} | {r['worker_peak_mb']:,.0f} |"
        )


if __name__ == "__main__":
    main()
