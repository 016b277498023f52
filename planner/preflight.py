"""Checks of everything a run needs that can be checked without computing.

:func:`check_scenario` runs before any layer is read (``planner validate`` and
:func:`planner.pipeline.run` call it first): every layer file exists and is a regular
file (a FIFO or device is never opened), the standards profile is known or its file
parses, at least one level is configured, and the output folder can be written and
replaced without losing anything: it is not a file, its parent is writable, it neither
is nor holds an input (layer files, the standards file, the scenario's own folder) and
holds nothing but planner outputs (:func:`planner.outputs.staging.previous_files`). The
scenario's CRSs, encodings and formats are checked when it is loaded
(:mod:`planner.scenario`).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from planner.errors import PlannerError, Problem, ValidationError
from planner.scenario import Scenario

#: Shapefile parts GDAL opens besides the ``.shp`` (each must be a regular file if present).
SHAPEFILE_PARTS = (".shx", ".dbf", ".prj", ".cpg", ".SHX", ".DBF", ".PRJ", ".CPG")
NO_LEVELS = "no [levels] table: give at least one level, e.g. [levels.village] radius_m = 2000"


def check_scenario(
    scenario: Scenario,
    *,
    out_dir: Path | None = None,
    write: bool = True,
    need_levels: bool = True,
) -> list[Problem]:
    """Everything wrong with ``scenario`` that shows before reading a layer.

    Parameters
    ----------
    scenario
        A loaded scenario.
    out_dir
        The output folder actually used (``--out``); default the scenario's.
    write
        Check the output folder (a run that writes nothing needs none).
    need_levels
        Require at least one ``[levels.*]`` table (coverage needs one; grids alone do
        not).

    Returns
    -------
    list of Problem
        Errors; layer-file problems carry the layer kind in ``layer``, the others
        ``"scenario"``.
    """
    problems = [_problem(NO_LEVELS)] if need_levels and not scenario.levels else []
    inputs: list[Path] = []
    for kind, spec in scenario.layers.items():
        path = scenario.path(spec.path)
        for part in (path, *_parts(path)):
            found = _regular_file_problem(part, required=part == path)
            if found:
                problems.append(_problem(found, layer=kind, file=part, fix=_fix(found, scenario)))
                break
            inputs.append(part)
    profile, standards_problems = _standards(scenario)
    problems += standards_problems
    if profile is not None:
        inputs.append(profile)
    if write:
        problems += _out_dir_problems(out_dir or scenario.out_dir, inputs, scenario.base_dir)
    return problems


def preflight(
    scenario: Scenario,
    *,
    out_dir: Path | None = None,
    write: bool = True,
    need_levels: bool = True,
) -> None:
    """Raise :class:`~planner.errors.ValidationError` when :func:`check_scenario` finds an
    error; the run then stops before reading any layer."""
    problems = check_scenario(scenario, out_dir=out_dir, write=write, need_levels=need_levels)
    if any(p.severity == "error" for p in problems):
        raise ValidationError(problems)


def unreadable_layers(problems: list[Problem]) -> set[str]:
    """Layer kinds whose files :func:`check_scenario` refused (not to be opened)."""
    return {p.layer for p in problems if p.severity == "error" and p.layer != "scenario"}


def _problem(
    text: str, *, layer: str = "scenario", file: Path | str = "", fix: str = ""
) -> Problem:
    return Problem("error", layer, str(file), None, "", text, fix)


def _parts(path: Path) -> list[Path]:
    """The companion files a reader opens with ``path`` (those that exist)."""
    if path.suffix.lower() != ".shp":
        return []
    return [p for p in (path.with_suffix(s) for s in SHAPEFILE_PARTS) if os.path.lexists(p)]


def _regular_file_problem(path: Path, *, required: bool = True) -> str:
    """Why ``path`` cannot be read as an input file ("" when it can). Never opens it."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "file not found" if required else ""
    except (OSError, ValueError) as exc:
        return f"cannot use the file: {getattr(exc, 'strerror', None) or exc}"
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(mode):
        return "not a regular file (a pipe, socket or device); it is not opened"
    return ""


def _fix(found: str, scenario: Scenario) -> str:
    if found == "file not found":
        return f"paths are relative to the scenario file's folder ({scenario.base_dir})"
    return "give the path of a data file"


def _standards(scenario: Scenario) -> tuple[Path | None, list[Problem]]:
    """The standards profile file (``None`` for a built-in one) and its problems."""
    choice = scenario.standards.file or scenario.standards.profile
    if choice is None:
        return None, []
    from planner.standards.profiles import load_profile

    text, path = str(choice), None
    if scenario.standards.file is not None or text.endswith(".toml") or re.search(r"[/\\]", text):
        path = scenario.path(text)
        found = _regular_file_problem(path)
        if found:
            return None, [
                _problem(f"standards profile: {found}", file=path, fix=_fix(found, scenario))
            ]
    try:
        load_profile(path or text, base_dir=scenario.base_dir)
    except PlannerError as exc:
        return path, [_problem(str(exc), file=path or "", fix="see [standards] in the README")]
    return path, []


def _out_dir_problems(out_dir: Path, inputs: list[Path], base_dir: Path) -> list[Problem]:
    """Why the run could not write or replace ``out_dir`` safely."""
    try:
        out = Path(out_dir).expanduser().resolve()
    except (OSError, RuntimeError, ValueError) as exc:
        return [_problem(f"out_dir {out_dir}: not a usable path ({exc})")]
    where = f"out_dir {out}"
    if out.exists() and not out.is_dir():
        return [_problem(f"{where} is a file", fix="give a folder for the outputs")]
    anchor = next((p for p in (out.parent, *out.parent.parents) if p.exists()), None)
    if anchor is None or not anchor.is_dir():
        return [_problem(f"{where} lies inside a file ({anchor})", fix="give a folder")]
    if not os.access(anchor, os.W_OK | os.X_OK):
        return [_problem(f"{where}: cannot write into {anchor}", fix="choose a writable folder")]
    inside = _inside(out, [*inputs, Path(base_dir)])
    if not inside:
        return _foreign_files(out)
    what = "the scenario's own folder" if inside == [Path(base_dir).resolve()] else "inputs"
    return [
        _problem(
            f"{where} contains {what} ({_few([str(p) for p in inside])}); a run replaces "
            "the whole output folder, so they would be lost",
            fix="write the outputs to a folder of their own (--out or [scenario] out_dir)",
        )
    ]


def _few(names: list[str]) -> str:
    """The first three of ``names`` and how many more."""
    more = f" and {len(names) - 3:,} more" if len(names) > 3 else ""
    return ", ".join(names[:3]) + more


def _inside(folder: Path, paths: list[Path]) -> list[Path]:
    """The ``paths`` that are ``folder`` or lie inside it."""
    found = []
    for path in paths:
        resolved = path.resolve()
        if resolved == folder or folder in resolved.parents:
            found.append(resolved)
    return found


def _foreign_files(out: Path) -> list[Problem]:
    """An existing output folder may hold only planner outputs: a run replaces it (the
    rule of :func:`planner.outputs.staging.previous_files`)."""
    from planner.outputs.staging import previous_files

    try:
        previous_files(out)
    except PlannerError as exc:
        return [_problem(str(exc), fix="choose a new or empty folder, or move those files out")]
    except OSError as exc:
        return [_problem(f"out_dir {out}: cannot list the folder ({exc.strerror})")]
    return []
