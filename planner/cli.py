"""The ``planner`` command.

Bad input exits with status 2 and a short message naming file, row and column; no
traceback is printed for it.
"""

from __future__ import annotations

import functools
import logging
import os
import warnings
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from planner.errors import PlannerError, PlannerWarning, Problem, ValidationError
from planner.progress import set_verbose

if TYPE_CHECKING:
    from planner.scenario import Scenario

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

console = Console(stderr=True, highlight=False)


class _ConsoleHandler(logging.Handler):
    """Log records as dim status lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        style = "dim" if record.levelno < logging.WARNING else "yellow"
        console.print(self.format(record), style=style, markup=False)


_default_showwarning = warnings.showwarning


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kw: Any) -> None:
    """Data problems as one yellow line each; other warnings the usual way."""
    if issubclass(category, PlannerWarning):
        console.print(f"warning: {message}", style="yellow", markup=False)
    else:
        _default_showwarning(message, category, *args, **kw)


@app.callback()
def _report(
    verbose: Annotated[
        bool | None,
        typer.Option(
            "--verbose/--quiet",
            help="Progress bars and step messages on (--verbose) or off (--quiet); "
            "by default bars show on a terminal and messages always.",
        ),
    ] = None,
) -> None:
    """Render the planner's log messages and data warnings on the console."""
    quiet = verbose is False or bool(os.environ.get("PLANNER_QUIET"))
    set_verbose(verbose)
    logger = logging.getLogger("planner")
    logger.handlers[:] = [_ConsoleHandler()]
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False
    warnings.showwarning = _show_warning


ScenarioArg = Annotated[Path, typer.Argument(help="Scenario TOML file.", show_default=True)]
OutOption = Annotated[
    Path | None, typer.Option("--out", help="Output folder (overrides the scenario's out_dir).")
]


#: Narrower consoles get one block per problem instead of a table.
TABLE_MIN_WIDTH = 100


def problem_report(problems: list[Problem], *, width: int) -> Group:
    """Problems grouped by layer and file: a table per group on a wide console, one block
    per problem on a narrow one (every line fits ``width``, no text is cut)."""
    groups: dict[tuple[str, str], list[Problem]] = {}
    for p in problems:
        groups.setdefault((p.layer, p.file), []).append(p)
    parts: list[RenderableType] = []
    for (layer, file), rows in groups.items():
        heading = Text(layer or "input", style="bold")
        if file:
            heading.append(f" · {file}", style="bold")
        parts.append(heading)
        parts.append(_group_table(rows) if width >= TABLE_MIN_WIDTH else _group_blocks(rows))
    return Group(*parts)


def _severity(p: Problem) -> Text:
    return Text(p.severity, style="red" if p.severity == "error" else "yellow")


def _group_table(problems: list[Problem]) -> Table:
    """Row, column, problem, what to do; columns empty in every row are left out."""
    cells = {
        "row": ["" if p.row is None else f"{p.row:,}" for p in problems],
        "column": [p.column for p in problems],
        "problem": [p.problem for p in problems],
        "what to do": [p.fix for p in problems],
    }
    shown = [name for name, values in cells.items() if any(values)]
    table = Table(show_lines=False, header_style="bold", expand=False)
    table.add_column("")
    for name in shown:
        table.add_column(name, overflow="fold")
    for i, p in enumerate(problems):
        table.add_row(_severity(p), *(Text(cells[name][i]) for name in shown))  # no markup
    return table


def _group_blocks(problems: list[Problem]) -> Group:
    blocks: list[RenderableType] = []
    for p in problems:
        head = _severity(p)
        where = [
            f"row {p.row:,}" if p.row is not None else "",
            f"column {p.column!r}" if p.column else "",
        ]
        if any(where):
            head.append(" · " + " · ".join(w for w in where if w))
        body = Text(p.problem, overflow="fold")
        if p.fix:
            body.append(f"\n→ {p.fix}", style="dim")
        blocks += [Padding(head, (0, 0, 0, 2)), Padding(body, (0, 0, 0, 4))]
    return Group(*blocks)


def tally(problems: list[Problem]) -> str:
    """``"100 error(s) in 1 layer, 2 warning(s)"``: rows summarised into one problem
    count as many as they stand for."""
    errors = [p for p in problems if p.severity == "error"]
    n_errors = sum(p.count for p in errors)
    n_warnings = sum(p.count for p in problems if p.severity != "error")
    places = {p.layer for p in errors}
    layers = len(places - {"scenario"})
    where = (["the scenario"] if "scenario" in places else []) + (
        [f"{layers} layer" + ("s" if layers > 1 else "")] if layers else []
    )
    text = f"{n_errors:,} error(s)" + (f" in {' and '.join(where)}" if where else "")
    return text + (f", {n_warnings:,} warning(s)" if n_warnings else "")


def print_problems(problems: list[Problem]) -> None:
    """Print the problem report sized to the console."""
    console.print(problem_report(problems, width=console.width))


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
            print_problems(exc.problems)
            _fail(f"{tally(exc.problems)}; nothing was written")
        except PlannerError as exc:
            _fail(str(exc).replace("[", r"\["))
        except (OSError, UnicodeError) as exc:
            _fail(str(exc).replace("[", r"\["))

    return wrapper  # type: ignore[return-value]


def _checked(scenario: Path, out: Path | None, *, need_levels: bool = True) -> Scenario:
    """Load the scenario and refuse it (:class:`ValidationError`) when
    :func:`~planner.preflight.check_scenario` finds an error."""
    from planner.preflight import check_scenario
    from planner.scenario import load_scenario

    loaded = load_scenario(scenario)
    problems = check_scenario(loaded, out_dir=out, need_levels=need_levels)
    if any(p.severity == "error" for p in problems):
        raise ValidationError(problems)
    return loaded


@app.command()
@user_errors
def run(
    scenario: ScenarioArg = DEFAULT_SCENARIO,
    out: OutOption = None,
    engine: Annotated[
        str,
        typer.Option(
            help="inprocess, or dask: coverage and grids partitioned by county on a Dask "
            "cluster, each county's share written by the workers into parts/."
        ),
    ] = "inprocess",
    scheduler: Annotated[
        str | None,
        typer.Option(help="Dask scheduler address (tcp://host:8786); default: a local cluster."),
    ] = None,
) -> None:
    """Run the whole plan: coverage, audit, siting, grids, maps and tables."""
    from planner.outputs.locking import output_lock
    from planner.outputs.writers import write_outputs
    from planner.pipeline import run as run_plan

    loaded = _checked(scenario, out)
    folder = out or loaded.out_dir
    with output_lock(folder), ExitStack() as stack:  # a concurrent run is refused up front
        if engine == "dask":  # one cluster for the steps and the parts written by its workers
            from planner.distributed import run_cluster

            stack.enter_context(run_cluster(scheduler))
        plan = run_plan(loaded, engine=engine, scheduler=scheduler)
        write_outputs(plan, folder, scheduler=scheduler)
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
def validate(scenario: ScenarioArg, out: OutOption = None) -> None:
    """Check the scenario and everything a run needs, read every layer and list all
    problems; exit 2 if any is an error."""
    from planner.layers import collect_layers
    from planner.preflight import check_scenario, unreadable_layers
    from planner.scenario import load_scenario

    loaded = load_scenario(scenario)
    problems = check_scenario(loaded, out_dir=out)
    skip = unreadable_layers(problems)
    layers = collect_layers(loaded, kinds=tuple(k for k in loaded.layers if k not in skip))
    problems += layers.problems
    if problems:
        print_problems(problems)
    if any(p.severity == "error" for p in problems):
        _fail(tally(problems))
    counts = ", ".join(f"{k} {len(v):,}" for k, v in layers.frames.items())
    console.print(
        f"[green]ok[/]: {counts}; working CRS {layers.crs.to_string()}"
        + (f"; {tally(problems).removeprefix('0 error(s), ')}" if problems else "")
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
    from planner.synth.region import generate_region, write_region

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
    from planner.outputs.writers import write_grid_outputs
    from planner.pipeline import grid_plan

    loaded = _checked(scenario, out, need_levels=False)
    step = grid_plan(loaded)
    write_grid_outputs(step, out, scenario=loaded)
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
    from planner.outputs.writers import write_inspection
    from planner.pipeline import inspection_plan

    loaded = _checked(scenario, out, need_levels=False)
    stops, route = inspection_plan(loaded, sample=sample, seed=seed)
    write_inspection(stops, route, out, scenario=loaded)
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
    from planner.outputs.compare import write_compare
    from planner.pipeline import run as run_plan
    from planner.scenario import load_scenario

    if lang not in (None, "zh", "en"):
        raise PlannerError(f"--lang must be zh or en, got {lang!r}")
    plan_a, plan_b = (run_plan(load_scenario(path)) for path in (scenario_a, scenario_b))
    written = write_compare(plan_a, plan_b, out, lang=lang, sources=(scenario_a, scenario_b))
    console.print("wrote " + ", ".join(str(p) for p in written.values()))


def main() -> None:
    """Entry point of the ``planner`` console script."""
    app()


if __name__ == "__main__":
    main()
