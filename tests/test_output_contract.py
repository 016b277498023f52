"""The output contract: what `planner run` writes for the demo is what README.md documents.

The README's "Outputs" section is parsed: its "Files" table names every file, its "Layers
and columns" table every GeoPackage layer and every column (or JSON key) of each file.
One run of the demo is then compared with it in both directions.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pyogrio
import pytest

from planner.layers import load_layers
from planner.outputs.report import labels
from planner.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DEMO = ROOT / "scenarios" / "demo.toml"

#: What the README documents but the demo cannot write, and why.
DEMO_LACKS_FILES = {"grid_issues.csv", "access.csv"}  # no user grid layer, no [access]
DEMO_LACKS_LAYERS = {("coverage.gpkg", "grid_issues")}  # idem
_COORDS = {"x", "y", "lon_bd09", "lat_bd09"}  # output CRS geographic; no BD-09 input
DEMO_LACKS_COLUMNS = {
    ("uncovered_villages.csv", None): _COORDS,
    ("proposals.csv", None): _COORDS | {"action", "gain", "cost", "closes"},
    ("proposals.gpkg", "proposals"): {"action", "gain", "cost", "closes"},  # no expansion
    ("worst_served.csv", None): _COORDS,
    # no [access] section in the demo (tests/test_access_run.py checks them)
    ("coverage.gpkg", "villages"): {"<level>_access"},
    ("coverage.gpkg", "centers"): {"<level>_supply_ratio"},
    ("summary.json", None): {"access"},
    # the demo gives village polygons, so none is derived from a point
    ("grids_by_village.csv", None): {
        "township_id", "township_name", "ledger_township_id", "ledger_township_name",
        "township_conflict",
    },
}  # fmt: skip
#: Fields GDAL's KML driver gives every placemark (``name`` is read back as ``Name``).
KML_PLACEMARK = {"Name", "description", "timestamp", "begin", "end", "altitudeMode",
                 "tessellate", "extrude", "visibility", "drawOrder", "icon"}  # fmt: skip
#: Files whose columns are documented (tables, layers, JSON); the rest are pages, images,
#: the workbook, shapefile sidecars and the marker.
TABULAR = {".csv", ".gpkg", ".json", ".geojson", ".fgb", ".parquet", ".shp", ".kml"}
_FILE = re.compile(r"\.?[\w-]+(\.[\w-]+)+\Z")

Target = tuple[str, str | None]  # (file, layer) — the layer only for GeoPackages


# ---------------------------------------------------------------------------- the README


@dataclass
class Contract:
    """What the README's Outputs section documents."""

    files: set[str] = field(default_factory=set)
    columns: dict[Target, set[str]] = field(default_factory=dict)
    as_read: set[Target] = field(default_factory=set)  # also the input layer's attributes


def _section(text: str, heading: str, level: int) -> str:
    """The text under a Markdown heading up to the next heading of the same or a higher level."""
    marks = "#" * level
    match = re.search(rf"^{marks} {re.escape(heading)}\n(.*?)(?=^#{{1,{level}}} |\Z)", text,
                      re.M | re.S)  # fmt: skip
    if match is None:
        raise AssertionError(f"README.md has no '{marks} {heading}' section")
    return match.group(1)


def _rows(section: str, name: str) -> list[list[str]]:
    """The cells of the body rows of the first table in ``section``."""
    lines = [line.strip() for line in section.splitlines() if line.strip().startswith("|")]
    if len(lines) < 3:
        raise AssertionError(f"README.md: the '{name}' section has no table")
    return [[c.strip() for c in re.split(r"(?<!\\)\|", line.strip("|"))] for line in lines[2:]]


def _ticked(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


def _outside_parentheses(text: str) -> str:
    """``text`` without its parenthesised remarks (which describe values, not columns)."""
    while (shorter := re.sub(r"\([^()]*\)", "", text)) != text:
        text = shorter
    return text


def _targets(cell: str) -> list[Target]:
    """``file`` · ``layer`` pairs (or plain files) of a first cell, comma-separated."""
    out = []
    for part in cell.split(","):
        names = _ticked(part)
        if names:
            out.append((names[0], names[1] if names[0].endswith(".gpkg") else None))
    return out


def parse_contract(text: str) -> Contract:
    """The files, layers and columns that a README's Outputs section documents."""
    outputs = _section(text, "Outputs", 2)
    contract = Contract()
    for row in _rows(_section(outputs, "Files", 3), "Files"):
        contract.files |= {name for cell in row for name in _ticked(cell) if _FILE.match(name)}
    for first, columns, *_ in _rows(_section(outputs, "Layers and columns", 3), "Layers"):
        names = set(_ticked(_outside_parentheses(columns)))
        for target in _targets(first):
            contract.columns.setdefault(target, set()).update(names)
            if "attributes as read" in columns:
                contract.as_read.add(target)
    return contract


def _matcher(name: str, levels: list[str]) -> re.Pattern[str]:
    """``<level>`` stands for a level of the scenario, any other ``<…>`` for a word."""
    parts = re.split(r"(<\w+>)", name)
    alternatives = "(?:" + "|".join(map(re.escape, levels)) + ")"
    regex = "".join(
        alternatives if p == "<level>" else r"\w+" if p.startswith("<") else re.escape(p)
        for p in parts
    )
    return re.compile(regex + r"\Z")


# ---------------------------------------------------------------------------- the run


def _fields(path: Path, layer: str | None) -> list[str]:
    """Column names of one written file (or GeoPackage layer), as a reader sees them."""
    if path.suffix == ".csv":
        return list(pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns)
    if path.suffix == ".json":
        return list(json.loads(path.read_text(encoding="utf-8")))
    if path.suffix == ".parquet":
        schema = pq.read_schema(path)
        geo = json.loads(schema.metadata[b"geo"])["primary_column"]
        return [name for name in schema.names if name != geo]
    fields = list(pyogrio.read_info(path, layer=layer)["fields"])
    if path.suffix == ".shp":
        short = pd.read_csv(path.with_suffix(".fields.csv"), encoding="utf-8-sig")
        return [dict(zip(short["short"], short["original"], strict=True)).get(f, f)
                for f in fields]  # fmt: skip
    if path.suffix == ".kml":
        return ["name" if f == "Name" else f for f in fields if f == "Name" or
                f not in KML_PLACEMARK]  # fmt: skip
    return fields


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("contract") / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "planner.cli", "run", str(DEMO), "--out", str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out


def _input_attributes() -> dict[str, set[str]]:
    """The villages' and centers' attributes as the planner reads them for the demo."""
    kinds = ("villages", "centers", "townships", "counties")
    frames = load_layers(load_scenario(DEMO), kinds=kinds).frames
    return {
        kind: {c for c in frames[kind].columns if c != "geometry" and not c.startswith("_")}
        for kind in ("villages", "centers")
    }


def _column_gaps(contract: Contract, out: Path, levels: list[str]) -> list[str]:
    """Per documented file or layer that was written: columns missing on either side."""
    inputs = _input_attributes()
    problems = []
    for (file, layer), names in sorted(contract.columns.items(), key=str):
        if (file, layer) in DEMO_LACKS_LAYERS or file in DEMO_LACKS_FILES:
            continue
        if not (out / file).exists():
            continue  # reported as a missing file
        where = f"{file} · {layer}" if layer else file
        produced = set(_fields(out / file, layer))
        allowed = inputs[str(layer)] if (file, layer) in contract.as_read else set()
        matchers = {name: _matcher(name, levels) for name in names}
        extra = {c for c in produced - allowed if not any(m.match(c) for m in matchers.values())}
        lacks = {n for n, m in matchers.items() if not any(m.match(c) for c in produced)}
        lacks = (lacks | (allowed - produced)) - DEMO_LACKS_COLUMNS.get((file, layer), set())
        if extra:
            problems.append(f"{where}: written, not in the README: {sorted(extra)}")
        if lacks:
            problems.append(f"{where}: in the README, not written: {sorted(lacks)}")
    return problems


def _layer_gaps(contract: Contract, out: Path) -> list[str]:
    problems = []
    for gpkg in sorted(out.glob("*.gpkg")):
        written = {name for name, _ in pyogrio.list_layers(gpkg)}
        documented = {layer for file, layer in contract.columns if file == gpkg.name}
        if extra := written - documented:
            problems.append(f"{gpkg.name}: layers written, not in the README: {sorted(extra)}")
        lacks = documented - written - {layer for f, layer in DEMO_LACKS_LAYERS if f == gpkg.name}
        if lacks:
            problems.append(f"{gpkg.name}: layers in the README, not written: {sorted(lacks)}")
    return problems


def _file_gaps(contract: Contract, out: Path) -> list[str]:
    written = {p.name for p in out.iterdir()}
    problems = []
    if extra := written - contract.files:
        problems.append(f"files written, not in the README's Files table: {sorted(extra)}")
    if lacks := contract.files - written - DEMO_LACKS_FILES:
        problems.append(f"files in the README's Files table, not written: {sorted(lacks)}")
    with_columns = {file for file, _ in contract.columns}
    if bare := {f for f in written if Path(f).suffix in TABULAR} - with_columns:
        problems.append(f"files written without a 'Layers and columns' row: {sorted(bare)}")
    return problems


def test_demo_outputs_are_the_documented_ones(demo_out):
    contract = parse_contract(README.read_text(encoding="utf-8"))
    levels = list(load_scenario(DEMO).levels)
    problems = [
        *_file_gaps(contract, demo_out),
        *_layer_gaps(contract, demo_out),
        *_column_gaps(contract, demo_out, levels),
    ]
    assert not problems, "README.md Outputs vs the demo's outputs:\n" + "\n".join(problems)


def test_workbook_has_one_sheet_per_table(demo_out):
    """``summary.xlsx``: a sheet per table CSV, titled in the scenario's language (zh), with
    the CSV's columns; the demo's tables are short, so no sheet is cut."""
    titles = labels("zh")["sheets"]
    tables = {p.stem: p for p in demo_out.glob("*.csv") if p.name != "grids.fields.csv"}
    sheets = pd.read_excel(demo_out / "summary.xlsx", sheet_name=None)
    assert set(sheets) == {titles.get(name, name) for name in tables}
    for name, path in tables.items():
        csv = pd.read_csv(path, encoding="utf-8-sig")
        assert sheets[titles.get(name, name)].shape == csv.shape, name


def test_every_documented_exception_is_documented():
    """The demo's exceptions name things the README documents (else they hide nothing)."""
    contract = parse_contract(README.read_text(encoding="utf-8"))
    assert contract.files >= DEMO_LACKS_FILES
    assert set(contract.columns) >= DEMO_LACKS_LAYERS
    for target, names in DEMO_LACKS_COLUMNS.items():
        assert contract.columns[target] >= names, target


# ---------------------------------------------------------------------------- the parser


def test_parser_reads_layers_columns_and_top_level_keys_only():
    contract = parse_contract(README.read_text(encoding="utf-8"))
    layers = {layer for file, layer in contract.columns if file == "coverage.gpkg"}
    assert layers == {"villages", "centers", "gaps", "service_areas", "audit", "grid_issues",
                      "adequacy", "worst_served"}  # fmt: skip
    keys = contract.columns[("summary.json", None)]
    assert {"levels", "rates", "timings", "skipped"} <= keys
    assert not keys & {"population_covered", "objective", "county", "standards"}  # nested
    assert contract.columns[("grids.kml", None)] == contract.columns[("grids.gpkg", "grids")]
    assert "subcenter" not in contract.columns[("proposals.gpkg", "proposals")]  # a value
    assert ("coverage.gpkg", "villages") in contract.as_read
    assert {"map.html", "grids.shx", ".planner-output.json"} <= contract.files


def test_placeholders_match_the_scenario_levels_only():
    m = _matcher("<level>_dist_m", ["county", "village"])
    assert m.match("county_dist_m") and m.match("village_dist_m")
    assert not m.match("city_dist_m") and not m.match("county_dist_m_x")
    assert _matcher("fail_<rule>", []).match("fail_rooms")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# x\n## Tour\n", "no '## Outputs' section"),
        ("## Outputs\n### Files\nno table\n### Layers and columns\n", "'Files' section has no"),
        ("## Outputs\n### Files\n| a | b |\n|---|---|\n| `x.csv` | |\n", "'### Layers and"),
    ],
)
def test_parser_names_what_the_readme_lacks(text, message):
    with pytest.raises(AssertionError, match=re.escape(message)):
        parse_contract(text)
