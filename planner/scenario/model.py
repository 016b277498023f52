"""The scenario model: :class:`Scenario` (every section validated together) and reading it
from a TOML file (:func:`load_scenario`, :func:`parse_scenario`)."""

from __future__ import annotations

import os
import re
import stat
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator

from planner.errors import PlannerError
from planner.levels import LEVELS
from planner.scenario import serving
from planner.scenario.access import AccessSettings, check_access_levels
from planner.scenario.messages import format_error
from planner.scenario.sections import (
    RESERVED_COLUMNS,
    GridSettings,
    LayerSpec,
    LevelSpec,
    NetworkSettings,
    Outputs,
    ScenarioMeta,
    Siting,
    Standards,
    StrictModel,
)
from planner.scenario.service_load import AdequacySettings, EquitySettings
from planner.scenario.values import did_you_mean, level_key, safe_folder_name
from planner.schemas import SCHEMAS

#: Largest scenario file read (bytes); a scenario is a few kilobytes.
MAX_SCENARIO_BYTES = 1_000_000
#: Deepest nesting of tables and lists accepted (a scenario needs 4).
MAX_DEPTH = 16
#: Problems listed in one message (the rest are counted).
MAX_LISTED = 30

LAYER_KINDS: tuple[str, ...] = (
    "centers",
    "villages",
    "village_areas",
    "townships",
    "counties",
    "merged_townships",
    "merged_township_areas",
    "grids",
    "roads",
    "candidates",
)


class Scenario(StrictModel):
    """A whole validated scenario; see the README's scenario reference."""

    scenario: ScenarioMeta = ScenarioMeta()
    layers: dict[str, LayerSpec]
    levels: dict[str, LevelSpec] = Field(default_factory=dict)
    siting: Siting = Siting()
    grids: GridSettings = GridSettings()
    outputs: Outputs = Outputs()
    standards: Standards = Standards()
    network: NetworkSettings = NetworkSettings()
    access: AccessSettings | None = None
    adequacy: AdequacySettings = AdequacySettings()
    equity: EquitySettings = EquitySettings()
    base_dir: Path = Path(".")

    @model_validator(mode="after")
    def _roads_for_network_levels(self) -> Scenario:
        needing = [lvl for lvl, spec in self.levels.items() if spec.mode == "network"]
        if needing and "roads" not in self.layers:
            raise ValueError(
                f'levels {", ".join(needing)} use mode = "network" but the scenario has no '
                "[layers.roads]"
            )
        return self

    @model_validator(mode="after")
    def _access_levels_exist(self) -> Scenario:
        check_access_levels(self.access, self.levels)
        return self

    @model_validator(mode="after")
    def _station_candidates_exist(self) -> Scenario:
        stations = self.siting.stations
        if (
            stations.enabled
            and stations.candidates == "candidates"
            and ("candidates" not in self.layers)
        ):
            raise ValueError(
                'siting.stations.candidates = "candidates" but the scenario has no '
                '[layers.candidates]; add the layer or use candidates = "villages"'
            )
        return self

    @model_validator(mode="after")
    def _station_radius_serves_villages(self) -> Scenario:
        if self.siting.stations.has_radius and "village" not in self.levels:
            raise ValueError(
                "siting.stations.radius_m/minutes is the radius stations serve the village "
                "level with, but there is no [levels.village]; give the station radius in "
                "[levels.station] instead"
            )
        return self

    @field_validator("layers", mode="before")
    @classmethod
    def _known_kinds(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        lines = [
            f"layers.{kind}: unknown layer kind{did_you_mean(kind, LAYER_KINDS)}; "
            f"expected one of {', '.join(LAYER_KINDS)}"
            for kind in value
            if kind not in LAYER_KINDS
        ]
        if "villages" not in value:
            lines.append("layers.villages: a [layers.villages] table is required")
        for kind, spec in value.items():
            if kind in LAYER_KINDS and isinstance(spec, dict):
                lines += _unknown_layer_keys(kind, spec)
        if lines:
            raise ValueError("\n".join(lines))
        return value

    @field_validator("levels", mode="before")
    @classmethod
    def _canonical_levels(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        keys: dict[str, str] = {}
        for key, spec in value.items():
            try:
                level = level_key(key)
            except ValueError as exc:
                raise ValueError(f"levels.{key}: {exc}") from None
            if level in out:
                raise ValueError(
                    f"levels.{key}: level {level!r} is given twice (also as {keys[level]!r})"
                )
            out[level], keys[level] = spec, key
        return out

    def path(self, relative: Path | str) -> Path:
        """Resolve a path given in the scenario relative to the scenario file."""
        p = Path(relative)
        try:
            p = p.expanduser()
        except RuntimeError:  # ``~user`` of an unknown user: keep it as written
            pass
        return p if p.is_absolute() else (self.base_dir / p).resolve()

    @property
    def out_dir(self) -> Path:
        """The output folder (default ``outputs/<safe name>`` beside the scenario file)."""
        if self.scenario.out_dir is not None:
            return self.path(self.scenario.out_dir)
        return self.path(Path("outputs") / safe_folder_name(self.scenario.name))

    def also_levels(self, level: str) -> tuple[str, ...]:
        """Levels whose centers also serve ``level`` (its own level first); see
        :func:`planner.scenario.serving.also_levels`."""
        return serving.also_levels(self.levels, level)

    def serving_groups(self, level: str) -> serving.LevelGroups:
        """The center levels serving ``level``, grouped by the settings they serve with; see
        :func:`planner.scenario.serving.serving_groups`."""
        return serving.serving_groups(self.levels, self.siting.stations, level)

    def station_spec(self, level: str) -> LevelSpec:
        """The settings stations serve ``level`` with; see
        :func:`planner.scenario.serving.station_spec`."""
        return serving.station_spec(self.levels, self.siting.stations, level)

    def ordered_levels(self) -> list[str]:
        """Configured levels from the top of the network down."""
        return [lvl for lvl in LEVELS if lvl in self.levels]


def _unknown_layer_keys(kind: str, spec: dict[str, Any]) -> list[str]:
    """Keys of a ``[layers.<kind>]`` table that are neither settings nor canonical columns."""
    known = (*LayerSpec.model_fields, *SCHEMAS[kind].names)
    return [
        f"layers.{kind}.{key}: unknown key{did_you_mean(key, known)}; a column mapping "
        f"names one of: {', '.join(SCHEMAS[kind].names)}"
        for key in spec
        if key not in known and key not in RESERVED_COLUMNS and not str(key).startswith("_")
    ]


_TOO_DEEP = f"keys, tables or lists nested more than {MAX_DEPTH} levels"
_KEY_PART = r"""(?:[A-Za-z0-9_-]++|"[^"\n]*+"|'[^'\n]*+')"""
#: A key of more than MAX_DEPTH dot-separated parts where a key starts (a line, a table
#: header, an inline table); possessive quantifiers keep the search linear.
_LONG_DOTTED_KEY = re.compile(
    rf"(?m)(?:^|[{{,\[])[ \t]*+{_KEY_PART}(?:[ \t]*+\.[ \t]*+{_KEY_PART}){{{MAX_DEPTH},}}"
)


def _depth(data: Any) -> int:
    """How deeply tables and lists nest in ``data`` (iterative: no recursion limit)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            break
        children = value.values() if isinstance(value, dict) else value
        stack += [(c, depth + 1) for c in children if isinstance(c, dict | list)]
    return deepest


def parse_scenario(data: dict[str, Any], *, base_dir: Path, source: str = "scenario") -> Scenario:
    """Validate a scenario given as a dict (the parsed TOML).

    Raises
    ------
    PlannerError
        Listing every problem with its key path.
    """
    if _depth(data) > MAX_DEPTH:
        raise PlannerError(f"{source}: {_TOO_DEEP}")
    if "base_dir" in data:
        raise PlannerError(f"{source}: invalid scenario\n  base_dir: unknown key")
    try:
        return Scenario.model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        errors = exc.errors()
        lines = [format_error(e, Scenario) for e in errors[:MAX_LISTED]]
        if len(errors) > MAX_LISTED:
            lines.append(f"… and {len(errors) - MAX_LISTED:,} more")
        raise PlannerError(f"{source}: invalid scenario\n  " + "\n  ".join(lines)) from None


def _read_regular(path: Path, limit: int) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes.

    The file is opened without blocking and checked before reading, so a FIFO or device
    is refused rather than waited on.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise PlannerError(f"{path}: scenario file not found") from None
    except OSError as exc:
        raise PlannerError(f"{path}: cannot open the scenario file: {exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise PlannerError(f"{path}: is a folder, not a scenario file")
        raise PlannerError(f"{path}: not a regular file (a pipe or device); give a TOML file")
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise PlannerError(f"{path}: larger than {limit:,} bytes; a scenario is a short TOML file")
    return data


def load_scenario(path: Path | str) -> Scenario:
    """Read and validate a scenario TOML file.

    Raises
    ------
    PlannerError
        When the file is missing, not a regular file, larger than
        :data:`MAX_SCENARIO_BYTES`, not UTF-8, not valid TOML (line and column named),
        nested too deeply, or does not follow the scenario reference.
    """
    path = Path(path)
    raw = _read_regular(path, MAX_SCENARIO_BYTES)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PlannerError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if _LONG_DOTTED_KEY.search(text):  # tomllib takes quadratic time on such keys
        raise PlannerError(f"{path}: {_TOO_DEEP}")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PlannerError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise PlannerError(f"{path}: {_TOO_DEEP}") from None
    return parse_scenario(data, base_dir=path.resolve().parent, source=str(path))
