"""Coverage planning for party-mass service centers.

The public API works on GeoDataFrames in any CRS (see :mod:`planner.api` and the README's
"Python API" section)::

    import planner as pl

    result = pl.coverage(villages, centers, radius_m=5000)
    chosen, certificate = pl.propose_sites(villages, candidates, radius_m=1000, budget=10)
    plan = pl.run(pl.read_scenario("scenarios/demo.toml"))

Names are imported on first use, so ``import planner`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from planner.version import __version__

#: public name -> (module, attribute)
_EXPORTS: dict[str, tuple[str, str]] = {
    "coverage": ("planner.api", "coverage"),
    "access_scores": ("planner.accessibility.api", "access_scores"),
    "build_network": ("planner.api", "build_network"),
    "propose_sites": ("planner.api", "propose_sites"),
    "generate_grids": ("planner.api", "generate_grids"),
    "check_grids": ("planner.api", "check_grids"),
    "read_scenario": ("planner.scenario", "load_scenario"),
    "run": ("planner.pipeline", "run"),
    "write_outputs": ("planner.outputs.writers", "write_outputs"),
    "PlannerError": ("planner.errors", "PlannerError"),
    "PlannerWarning": ("planner.errors", "PlannerWarning"),
}

__all__ = [
    "PlannerError",
    "PlannerWarning",
    "__version__",
    "access_scores",
    "build_network",
    "check_grids",
    "coverage",
    "generate_grids",
    "propose_sites",
    "read_scenario",
    "run",
    "write_outputs",
]

if TYPE_CHECKING:
    from planner.accessibility.api import access_scores
    from planner.api import build_network, check_grids, coverage, generate_grids, propose_sites
    from planner.errors import PlannerError, PlannerWarning
    from planner.outputs.writers import write_outputs
    from planner.pipeline import run
    from planner.scenario import load_scenario as read_scenario


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'planner' has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
