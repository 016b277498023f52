"""The ``planner`` command.

Bad input exits with status 2 and a short message naming file, row and column; no
traceback is printed for it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from .errors import PlannerError, Problem, ValidationError
from .progress import console

DEFAULT_SCENARIO = Path("scenarios/demo.toml")
F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="planner",
    help="Plan the coverage of party-mass service centers: coverage per level, gaps, "
    "proposed sub-centers and stations, governance grids, offline maps.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ScenarioArg = Annotated[Path, typer.Argument(help="Scenario TOML file.", show_default=True)]
OutOption = Annotated[
    Path | None, typer.Option("--out", help="Output folder (overrides the scenario's out_dir).")
]


def problem_table(problems: list[Problem]) -> Table:
    """One table of problems: layer, file, row, column, problem, what to do."""
    table = Table(show_lines=False, header_style="bold", expand=False)
    for name in ("", "layer", "file", "row", "column", "problem", "what to do"):
        table.add_column(name, overflow="fold")
    for p in problems:
        mark = "[red]error[/]" if p.severity == "error" else "[yellow]warning[/]"
        table.add_row(
            mark,
            p.layer,
            Path(p.file).name if p.file else "",
            "" if p.row is None else str(p.row),
            p.column,
            p.problem,
            p.fix,
        )
    return table


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    raise typer.Exit(code=2)


def user_errors(func: F) -> F:
    """Turn bad input into a clean message and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ValidationError as exc:
            console.print(problem_table(exc.problems))
            errors = sum(p.severity == "error" for p in exc.problems)
            _fail(f"{errors} error(s) in the input; nothing was written")
        except PlannerError as exc:
            _fail(str(exc).replace("[", r"\["))
        except (OSError, UnicodeError) as exc:
            _fail(str(exc).replace("[", r"\["))

    return wrapper  # type: ignore[return-value]


@app.command()
@user_errors
def run(
    scenario: ScenarioArg = DEFAULT_SCENARIO,
    out: OutOption = None,
    engine: Annotated[
        str,
        typer.Option(help="inprocess, or dask: coverage partitioned by county on a Dask cluster."),
    ] = "inprocess",
    scheduler: Annotated[
        str | None,
        typer.Option(help="Dask scheduler address (tcp://host:8786); default: a local cluster."),
    ] = None,
) -> None:
    """Run the whole plan: coverage, audit, siting, grids, maps and tables."""
    from .pipeline import run as run_plan
    from .scenario import load_scenario

    plan = run_plan(load_scenario(scenario), out_dir=out, engine=engine, scheduler=scheduler)
    _print_headline(plan.summary)


def _print_headline(summary: dict[str, Any]) -> None:
    table = Table(title=f"coverage · {summary['scenario']}", header_style="bold")
    for name in ("level", "radius", "centers", "population covered", "villages uncovered"):
        table.add_column(name, justify="right")
    for level, s in summary["levels"].items():
        table.add_row(
            level,
            f"{s['radius_m']:,.0f} m ({s['mode']})"
            + "".join(f" · {r:,.0f} m" for r in s.get("radii_m", [])[1:]),
            str(s["centers"]),
            f"{s['population_rate']:.1%}",
            f"{s['villages_uncovered']:,}",
        )
    console.print(table)


@app.command()
@user_errors
def validate(scenario: ScenarioArg) -> None:
    """Read every layer and list all problems; exit 2 if any is an error."""
    from .layers import collect_layers
    from .scenario import load_scenario

    layers = collect_layers(load_scenario(scenario))
    errors = [p for p in layers.problems if p.severity == "error"]
    if layers.problems:
        console.print(problem_table(layers.problems))
    if errors:
        _fail(f"{len(errors)} error(s), {len(layers.problems) - len(errors)} warning(s)")
    counts = ", ".join(f"{k} {len(v):,}" for k, v in layers.frames.items())
    console.print(
        f"[green]ok[/]: {counts}; working CRS {layers.crs.to_string()}"
        + (f"; {len(layers.problems)} warning(s)" if layers.problems else "")
    )


@app.command()
@user_errors
def synth(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the region into.")],
    villages: Annotated[int, typer.Option(min=10, help="Number of villages/communities.")] = 800,
    townships: Annotated[int, typer.Option(min=1, help="Number of townships.")] = 40,
    counties: Annotated[int | None, typer.Option(min=1, help="Number of counties.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same region).")] = 0,
    name: Annotated[str, typer.Option(help="Scenario name.")] = "synthetic",
    road_detail: Annotated[
        float,
        typer.Option(
            min=0.0, help="Road vertices per km (≈35 gives ~300k edges for a 2,340-village county)."
        ),
    ] = 1.0,
    formats: Annotated[
        str,
        typer.Option(
            help="'gpkg' (every layer a GeoPackage) or 'demo' (villages as a "
            "GCJ-02 Excel ledger, village areas as a GBK shapefile, …)."
        ),
    ] = "gpkg",
    village_areas: Annotated[
        bool, typer.Option(help="Also write village polygons (skip for huge regions).")
    ] = True,
    outputs_dir: Annotated[
        str, typer.Option(help="out_dir written into scenario.toml (relative to it).")
    ] = "outputs",
    national: Annotated[
        bool,
        typer.Option(
            help="Province/national preset: every level by straight line; "
            "grids, siting, map and report off; no roads."
        ),
    ] = False,
) -> None:
    """Generate a deterministic synthetic region with a ready scenario.toml."""
    from .synth import generate_region, write_region

    if formats not in ("gpkg", "demo"):
        raise PlannerError(f"--formats must be gpkg or demo, got {formats!r}")
    region = generate_region(
        villages=villages,
        townships=townships,
        counties=counties,
        seed=seed,
        name=name,
        road_detail=road_detail,
        village_areas=village_areas,
    )
    path = write_region(region, out, formats=formats, outputs_dir=outputs_dir, national=national)
    console.print(f"wrote {out}; run it with: planner run {path}")


@app.command()
@user_errors
def grids(scenario: ScenarioArg, out: OutOption = None) -> None:
    """Generate governance grids for every village (or check the scenario's grid layer)
    and export them in the scenario's formats."""
    from .pipeline import grids_only
    from .scenario import load_scenario

    step = grids_only(load_scenario(scenario), out_dir=out)
    stats = step.stats
    if step.issues is not None:
        console.print(f"checked {stats['grids']:,} grids: {stats['issues']:,} issue(s)")
    elif step.grids is not None:
        console.print(
            f"{len(step.grids):,} grids; households per grid max/min "
            f"{stats.get('balance_ratio_max', float('nan')):.2f}"
        )


@app.command()
@user_errors
def inspect(
    scenario: ScenarioArg,
    sample: Annotated[int, typer.Option("--sample", min=1, help="Centers to visit.")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same round).")] = 0,
    out: OutOption = None,
) -> None:
    """Plan an unannounced inspection round: a stratified sample of centers, weighted
    toward non-compliant or unknown ones, in a short visiting order."""
    from .pipeline import plan_inspection
    from .scenario import load_scenario

    stops, route = plan_inspection(load_scenario(scenario), sample=sample, seed=seed, out_dir=out)
    length = float(route["length_m"].iloc[0]) / 1000 if len(route) else 0.0
    console.print(
        f"{len(stops)} stops, {length:,.1f} km: " + " → ".join(stops["id"].astype(str).tolist())
    )


@app.command()
@user_errors
def compare(
    scenario_a: Annotated[Path, typer.Argument(help="First scenario TOML.")],
    scenario_b: Annotated[Path, typer.Argument(help="Second scenario TOML.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("outputs/compare"),
    lang: Annotated[str | None, typer.Option(help="zh or en (default: scenario A's).")] = None,
) -> None:
    """Compare two scenarios side by side: coverage per level, proposals, new sites."""
    from .compare import write_compare

    if lang not in (None, "zh", "en"):
        raise PlannerError(f"--lang must be zh or en, got {lang!r}")
    written = write_compare(scenario_a, scenario_b, out, lang=lang)
    console.print("wrote " + ", ".join(str(p) for p in written.values()))


def main() -> None:
    """Entry point of the ``planner`` console script."""
    app()


if __name__ == "__main__":
    main()
