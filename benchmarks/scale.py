"""Benchmark: whole ``planner run`` at province and national sizes, in-process and on Dask.

Two kinds of region, each generated once (deterministic, seed 0, one township per 15
villages, as 600,000 villages in 40,000 townships):

* ``--sizes``: the national scenario preset (straight-line coverage of every level;
  siting, grids, map and report off; no roads, no village polygons);
* ``--full``: a full region — roads, village polygons and the default scenario of
  ``planner synth`` (township and village levels along roads, grids for every village,
  siting, map and report), as ``planner synth --villages 600000 --townships 40000``.

Each engine then runs ``planner run`` on it in a fresh subprocess, so peaks do not mix.
The resident memory and CPU time of every process of the run (the driving process and, on Dask, the
local cluster's workers, its child processes) is sampled every 0.1 s; a run whose
processes together exceed ``--limit-gb`` is stopped there and reported as such, with
the last step it logged. Run::

    .venv/bin/python benchmarks/scale.py [--sizes 10k,100k,600k] [--engines inprocess,dask]
    .venv/bin/python benchmarks/scale.py --sizes "" --full 600k --limit-gb 12
    .venv/bin/python benchmarks/scale.py --scenario SCENARIO.toml --out-root FOLDER

``--scenario`` measures a given scenario instead. Outputs go beside each scenario, or
under ``--out-root``/<the scenario's folder name>.
Regions are cached in ``--data`` (default ``outputs/bench-scale``) and reused; each run's
log is ``run-<engine>.log`` beside its output folder. The targets (issue 15): national
preset in-process ≤ 40 s and ≤ 3 GB; the full region on Dask ≤ 10 min with no process
over 4 GB, in-process ≤ 12 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
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


def region_scenario(villages: int, data: Path, *, full: bool = False) -> Path:
    """The scenario of a region of ``villages`` villages (generated once): the national
    preset, or with ``full`` roads, village polygons and every step."""
    folder = data / (f"full-v{villages}" if full else f"v{villages}")
    scenario = folder / "scenario.toml"
    if not scenario.exists():
        start = time.perf_counter()
        region = generate_region(
            villages=villages,
            townships=max(1, villages // VILLAGES_PER_TOWNSHIP),
            seed=0,
            village_areas=full,
            name=f"{'full' if full else 'scale'}-{villages}",
        )
        write_region(region, folder, national=not full, outputs_dir="out")
        print(f"generated {villages:,} villages in {time.perf_counter() - start:.0f} s")
    return scenario


def process_rss(proc: psutil.Process) -> dict[int, tuple[int, float]]:
    """Resident memory (bytes) and CPU seconds of a process and each of its descendants,
    by pid."""
    rss = {}
    for p in [proc, *proc.children(recursive=True)]:
        try:
            with p.oneshot():
                cpu = p.cpu_times()
                rss[p.pid] = (p.memory_info().rss, cpu.user + cpu.system)
        except psutil.Error:
            continue
    return rss


@dataclass
class Watch:
    """Peaks of a process tree: of the sum, and of each process by pid; CPU seconds of
    each process."""

    limit: float
    peak: int = 0
    each: dict[int, int] = field(default_factory=dict)
    cpu: dict[int, float] = field(default_factory=dict)
    killed_at: float | None = None

    def sample(self, root: psutil.Process, seconds: float) -> bool:
        """Record one sample; stop the tree and return False when over the limit."""
        rss = process_rss(root)
        total = sum(value for value, _ in rss.values())
        self.peak = max(self.peak, total)
        for pid, (value, cpu) in rss.items():
            self.each[pid] = max(self.each.get(pid, 0), value)
            self.cpu[pid] = cpu
        if total <= self.limit:
            return True
        self.killed_at = seconds
        for pid in reversed(list(rss)):
            try:
                psutil.Process(pid).kill()
            except psutil.Error:
                continue
        return False


def last_step(log: Path) -> str:
    """The last line of a run's log that names a step (``<step> …``)."""
    lines = [ln.strip() for ln in log.read_text("utf-8", "replace").splitlines()]
    steps = [ln for ln in lines if ln.endswith("…")]
    return steps[-1].rstrip(" …") if steps else "?"


def measure(
    scenario: Path, engine: str, out_root: Path | None = None, *, limit_gb: float = 0
) -> dict[str, float | str | list[float]]:
    """Run ``planner run`` once in a subprocess: wall seconds, peak memory (MB) of the
    whole tree, of the driving process and of every other process, and what the run
    itself reports (or where it was stopped at ``limit_gb``)."""
    folder = out_root / scenario.parent.name if out_root else scenario.parent
    folder.mkdir(parents=True, exist_ok=True)
    out, log = folder / f"out-{engine}", folder / f"run-{engine}.log"
    command = [sys.executable, "-m", "planner.cli", "run", str(scenario), "--out", str(out)]
    env = {**os.environ, "CI": "true"}
    watch = Watch(limit_gb * 2**30 if limit_gb else float("inf"))
    start = time.perf_counter()
    with log.open("w", encoding="utf-8") as sink:
        proc = subprocess.Popen(
            [*command, "--engine", engine], env=env, stdout=subprocess.DEVNULL, stderr=sink
        )
        root = psutil.Process(proc.pid)
        while proc.poll() is None and watch.sample(root, time.perf_counter() - start):
            time.sleep(0.1)
        proc.wait()
    seconds = time.perf_counter() - start
    others = sorted((v / 2**20 for pid, v in watch.each.items() if pid != proc.pid), reverse=True)
    row: dict[str, float | str | list[float]] = {
        "seconds": seconds,
        "peak_mb": watch.peak / 2**20,
        "driver_peak_mb": watch.each.get(proc.pid, 0) / 2**20,
        "other_peaks_mb": others,
        "cpu_s": sum(watch.cpu.values()),
    }
    if watch.killed_at is not None:
        return {**row, "status": f"stopped over {limit_gb:g} GB in: {last_step(log)}"}
    if proc.returncode:
        raise SystemExit(f"planner run failed ({engine}, {scenario}); see {log}")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    timings = summary["timings"]
    slowest = max(timings, key=timings.get)
    return {**row, "status": f"done; slowest step {slowest} {timings[slowest]:.0f} s"}


def table(rows: list[tuple[str, str, dict]]) -> None:
    """The results as a Markdown table."""
    print(
        "| region | engine | run (s) | CPU, all processes (s) | peak, all processes (MB) | "
        "driver (MB) | other processes (MB) | result |"
    )
    print("|---|---|---:|---:|---:|---:|---|---|")
    for label, engine, r in rows:
        others = ", ".join(f"{v:,.0f}" for v in r["other_peaks_mb"]) or "–"
        print(
            f"| {label} | {engine} | {r['seconds']:.1f} | {r['cpu_s']:.0f} | {r['peak_mb']:,.0f} | "
            f"{r['driver_peak_mb']:,.0f} | {others} | {r['status']} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10k,100k,600k", help="national preset regions")
    parser.add_argument("--full", default="", help="full regions (roads, grids), e.g. 600k")
    parser.add_argument("--engines", default=",".join(ENGINES), help="inprocess,dask")
    parser.add_argument("--data", type=Path, default=Path("outputs/bench-scale"))
    parser.add_argument("--scenario", type=Path, help="measure this scenario instead")
    parser.add_argument("--out-root", type=Path, help="folder for the outputs of --scenario")
    parser.add_argument("--limit-gb", type=float, default=0, help="stop a run over this memory")
    args = parser.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if unknown := set(engines) - set(ENGINES):
        parser.error(f"unknown engine(s) {sorted(unknown)}; use {', '.join(ENGINES)}")
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    full = [parse_size(s) for s in args.full.split(",") if s.strip()]
    regions = (
        [(str(args.scenario), args.scenario)]
        if args.scenario
        else [(f"{v:,} preset", region_scenario(v, args.data)) for v in sizes]
        + [(f"{v:,} full", region_scenario(v, args.data, full=True)) for v in full]
    )
    rows = []
    for label, scenario in regions:
        for engine in engines:
            result = measure(scenario, engine, args.out_root, limit_gb=args.limit_gb)
            rows.append((label, engine, result))
            print(
                f"{label:>14}  {engine:<9}  {result['seconds']:7.1f} s  "
                f"peak {result['peak_mb']:7,.0f} MB  {result['status']}",
                flush=True,
            )
    print()
    table(rows)


if __name__ == "__main__":
    main()
