"""Fuzzing the scenario: whatever a scenario file holds, the CLI exits 0 or 2, never with
a traceback, and a refusal always says why.

Scenarios are the tiny region's (``conftest.SCENARIO``) with random changes: values of
random types (booleans, ±inf, nan, huge or negative numbers, text with Chinese, NUL and
path tricks, lists, nested tables) at key paths taken from the scenario models (so new
settings are fuzzed too) or at random new keys, keys dropped, and the TOML text itself
cut or spliced. ``validate`` and ``run --out <fresh folder>`` are invoked in-process.
"""

from __future__ import annotations

import itertools
import math
import tomllib
import traceback
from pathlib import Path
from typing import Any

import pytest
from conftest import SCENARIO, tiny_frames
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from typer.testing import CliRunner

from planner.cli import app
from planner.levels import LEVELS
from planner.scenario import LAYER_KINDS, LayerSpec, LevelSpec, Scenario
from planner.schemas import SCHEMAS

BASE: dict[str, Any] = tomllib.loads(SCENARIO)
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

STRINGS = (
    "", " ", "auto", "EPSG:4490", "EPSG:4549", "EPSG:4326", "EPSG:3857", "EPSG:999999", "4978",
    "gcj02", "bd09", "wgs84", "network", "euclidean", "walk", "drive", "gpkg", "shp", "kml",
    "parquet", "geometry", "_row", "id", "name", "population", "level", "村", "乡镇", "驿站",
    "省级", "villages.gpkg", "centers.gpkg", "townships.gpkg", "../../x", "/", ".", "..",
    "/dev/null", "/dev/zero", "/etc", "a/b", "CON", "~nobody_here/x", "yantai", "generic",
    "gbk", "utf-8", "rot13", "base64", "人口", "常住人口", "a\x00b", "\u202e", "candidates",
    "grids", "villages", "en", "zh", "tianditu", "osm", "x" * 300,
)  # fmt: skip

scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-5, max_value=5_000),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 0.5, 1e-300, 1e300, 1e7, -1.0]),
    st.text(max_size=12),
    st.sampled_from(STRINGS),
)
keys = st.one_of(st.text(max_size=8), st.sampled_from(["a", "levels", "layers", "radius", "村"]))
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=6,
)


def _setting_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple]:
    """Every settings key of ``model``, as paths; tables of layers and levels expanded."""
    paths = []
    for name, field in model.model_fields.items():
        path, annotation = (*prefix, name), field.annotation
        if name == "base_dir":
            continue
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            paths += _setting_paths(annotation, path)
        else:
            paths.append(path)
    return paths


PATHS: list[tuple] = sorted(
    {
        *_setting_paths(Scenario),
        *(("layers", kind, key) for kind in LAYER_KINDS
          for key in (*LayerSpec.model_fields, *SCHEMAS[kind].names)),
        *(("levels", level, key) for level in (*LEVELS, "乡镇") for key in LevelSpec.model_fields),
        *(("network", "speeds", mode, "track") for mode in ("walk", "drive", "fly")),
    }
)  # fmt: skip
#: Paths inside the tables the tiny scenario has (its layers and levels, every section).
PRESENT: list[tuple] = [
    p for p in PATHS
    if p[0] not in ("layers", "levels") or (len(p) > 2 and p[1] in BASE[p[0]])
]  # fmt: skip
key_paths = st.one_of(
    st.sampled_from(PRESENT),
    st.sampled_from(PATHS),
    st.lists(keys, min_size=1, max_size=3).map(tuple),
    st.tuples(st.sampled_from(PATHS), keys).map(lambda t: (*t[0][:-1], t[1])),
)


def _set(data: dict, path: tuple, value: Any) -> None:
    for key in path[:-1]:
        if not isinstance(data.get(key), dict):
            data[key] = {}
        data = data[key]
    data[path[-1]] = value


def _drop(data: dict, path: tuple) -> None:
    for key in path[:-1]:
        data = data.get(key)
        if not isinstance(data, dict):
            return
    data.pop(path[-1], None)


#: Values that are close to right for a key: valid ones and near misses.
PLAUSIBLE: dict[str, tuple] = {
    "encoding": ("gbk", "utf-8", "latin-1", "gb18030", "cp936", "rot13", "base64", "utf-16"),
    "crs": ("EPSG:4490", "EPSG:4549", 4549, "EPSG:4326", "EPSG:3857", "auto", "EPSG:4978"),
    "coords": ("wgs84", "gcj02", "bd09", "cgcs2000"),
    "path": ("villages.gpkg", "centers.gpkg", "townships.gpkg", "fuzz.toml", ".", "/dev/null"),
    "layer": ("villages", "centers", "x", 0),
    "sheet": (0, 1, "Sheet1"),
    "lon": ("lon", "x", "geometry"),
    "mode": ("network", "euclidean"),
    "travel": ("walk", "bike", "drive", "fly"),
    "also": (["station"], ["village"], ["township", "subcenter"], ["村"], []),
    "formats": (["gpkg", "geojson", "shp", "kml", "fgb", "parquet"], ["shp"], ["kml"], []),
    "lang": ("en", "zh"),
    "tiles": ("osm", "tianditu", "none"),
    "profile": ("yantai", "benxi", "tongliao", "yueyang", "generic", "x.toml"),
    "file": ("villages.gpkg", "fuzz.toml", "/dev/null"),
    "candidates": ("villages", "candidates", "grids"),
    "name": ("../../x", "科左中旗", "CON", "a/b"),
    "out_dir": ("out", "..", ".", "/"),
    "id": ("id", "name", "geometry", "population"),
    "population": ("population", "households", "id", "name"),
    "level": ("level", "name"),
}


@st.composite
def mutation(draw: st.DrawFn) -> tuple[str, tuple, Any]:
    path = draw(key_paths)
    if draw(st.integers(0, 4)) == 0:
        return "drop", path, None
    plausible = PLAUSIBLE.get(str(path[-1]), ())
    value = draw(st.sampled_from(plausible) | values if plausible else values)
    return "set", path, value


@st.composite
def scenario_dicts(draw: st.DrawFn) -> dict[str, Any]:
    data = tomllib.loads(SCENARIO)
    for action, path, value in draw(st.lists(mutation(), min_size=1, max_size=4)):
        if action == "set":
            _set(data, path, value)
        else:
            _drop(data, path)
    return data


def _string(text: str) -> str:
    """A TOML basic string: backslash, quote and control characters escaped."""
    escaped = (
        "\\\\" if ch == "\\" else '\\"' if ch == '"'
        else f"\\u{ord(ch):04x}" if ord(ch) < 0x20 or ord(ch) == 0x7F else ch
        for ch in text
    )  # fmt: skip
    return '"' + "".join(escaped) + '"'


def toml_value(value: Any) -> str:
    """``value`` as TOML (tables inline)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)  # inf, -inf, 1e+300 are TOML
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{_string(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_text(data: dict[str, Any]) -> str:
    return "".join(f"{_string(k)} = {toml_value(v)}\n" for k, v in data.items())


def _same(a: Any, b: Any) -> bool:
    """Equal, with nan equal to nan."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_same, a, b))
    return type(a) is type(b) and a == b


@st.composite
def spliced_texts(draw: st.DrawFn) -> str:
    """The scenario text with a random slice replaced by random text."""
    text = SCENARIO
    start = draw(st.integers(0, len(text)))
    end = draw(st.integers(start, min(len(text), start + 40)))
    insert = draw(st.text(max_size=30) | st.sampled_from(["[", "]]", "{", '"', "=", "\n[levels]"]))
    return text[:start] + insert + text[end:]


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz_region")
    for kind, frame in tiny_frames().items():
        frame.to_file(folder / f"{kind}.gpkg", driver="GPKG")
    return folder


_RUNS = itertools.count()


def invoke(region: Path, text: str, command: str) -> tuple[int, str]:
    """Write the scenario, run ``command`` in-process; check the exit contract."""
    path = region / "fuzz.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    args = [command, str(path)]
    out = region.parent / f"fuzz_out_{next(_RUNS)}"
    if command == "run":
        args += ["--out", str(out)]
    result = CliRunner().invoke(app, args)
    if currently_in_test_context():
        event(f"{command}: exit {result.exit_code}")
    output = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        tb = "".join(traceback.format_exception(result.exception))
        pytest.fail(f"{command} raised on\n{text}\n{tb}")
    assert result.exit_code in (0, 2), f"exit {result.exit_code} on\n{text}\n{output}"
    assert "Traceback" not in output
    if result.exit_code == 2:
        assert output.strip(), f"exit 2 without a message on\n{text}"
        assert not (out / "summary.json").exists()  # nothing written
    elif command == "run":
        assert (out / "summary.json").is_file()
    return result.exit_code, output


def test_serializer_round_trips():
    sample = {"a": [1, 2.5, float("inf"), 'x\x00"\\\x7f村'], "b": {"c": {"": True}}}
    assert _same(tomllib.loads(toml_text(sample)), sample)
    assert tomllib.loads(toml_text(BASE)) == BASE


def test_the_base_scenario_runs(region):
    assert invoke(region, toml_text(BASE), "validate")[0] == 0
    assert invoke(region, toml_text(BASE), "run")[0] == 0


@settings(FUZZ, max_examples=150)
@given(data=scenario_dicts())
def test_validate_any_scenario(region, data):
    text = toml_text(data)
    assert _same(tomllib.loads(text), data)
    invoke(region, text, "validate")


@settings(FUZZ, max_examples=60)
@given(text=spliced_texts())
def test_validate_any_text(region, text):
    invoke(region, text, "validate")


@settings(FUZZ, max_examples=60)
@given(data=scenario_dicts())
def test_run_any_scenario(region, data):
    invoke(region, toml_text(data), "run")


@pytest.mark.slow
@settings(FUZZ, max_examples=1_000)
@given(data=scenario_dicts())
def test_validate_any_scenario_long(region, data):
    invoke(region, toml_text(data), "validate")


@pytest.mark.slow
@settings(FUZZ, max_examples=300)
@given(data=scenario_dicts())
def test_run_any_scenario_long(region, data):
    invoke(region, toml_text(data), "run")
