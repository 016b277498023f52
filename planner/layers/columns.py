"""Canonical column names and typed values of one layer.

The user's columns are renamed to the canonical names of the layer kind
(:mod:`planner.schemas`): first as the scenario maps them, then by the known aliases
(``编码`` → ``id``). Each canonical column is then typed by its ``dtype``; cells that
cannot be read are reported by row and left missing.
"""

from __future__ import annotations

from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pandas as pd

from planner.layers.problems import LayerProblems
from planner.layers.readers import RawLayer
from planner.levels import try_normalize_level
from planner.schemas import COLUMN_ALIASES, YEAR_RANGE, Column, LayerSchema, parse_bool


def _float_codes(values: pd.Series) -> pd.Series:
    """Float cells as code text: whole numbers without ``.0`` (``-0.0`` → ``"0"``)."""
    number = values.to_numpy(dtype=float, na_value=np.nan)
    whole = np.isfinite(number) & (number == np.round(number)) & (np.abs(number) < 2**53)
    digits = np.where(whole, number, 0).astype(np.int64).astype(str)
    text = np.where(whole, digits, number.astype(str))
    return pd.Series(text, index=values.index, dtype=object).where(~np.isnan(number))


def as_code(values: pd.Series) -> pd.Series:
    """Identifier cells as text: ``150521100001.0`` and ``150521100001`` both become
    ``"150521100001"``; blanks become missing."""
    if pd.api.types.is_float_dtype(values.dtype):
        values = _float_codes(values)
    elif values.dtype == object:
        floats = np.fromiter((isinstance(v, float) for v in values), bool, len(values))
        if floats.any():
            values = values.copy()
            values[floats] = _float_codes(values[floats].astype(float))
    text = values.astype("string").str.strip()
    if text.str.endswith(".0").any():
        text = text.str.replace(r"^(\d+)\.0$", r"\1", regex=True)
    return text.mask(text == "")


def by_distinct(values: pd.Series, parse: Callable[[object], object]) -> pd.Series:
    """``parse`` applied once per distinct non-missing value (missing stays missing)."""
    codes, uniques = pd.factorize(values)
    parsed = np.array([parse(u) for u in uniques] + [None], dtype=object)
    return pd.Series(parsed[codes], index=values.index, dtype=object)


def rename_columns(
    frame: gpd.GeoDataFrame,
    given: dict[str, str],
    schema: LayerSchema,
    raw: RawLayer,
    out: LayerProblems,
) -> tuple[gpd.GeoDataFrame, dict[str, str]]:
    """Canonical column names; returns the frame and ``canonical → user's column``.

    ``given`` is the scenario's mapping ``canonical → source column``; columns it does not
    map are found by their aliases. A column already carrying a canonical name that
    another column is mapped to keeps its values as ``<name>_orig``.
    """
    mapping = _mapped_columns(frame, given, schema, out)
    mapping.update(_alias_columns(frame, schema, raw, mapping))
    _check_duplicate_columns(frame, schema, raw, mapping, out)
    taken = set(mapping.values())
    clashes = [c for c in frame.columns if c in taken and c not in mapping]
    frame = frame.rename(columns={c: f"{c}_orig" for c in clashes})
    names = {c: c for c in schema.names if c in frame.columns}
    names.update({canonical: str(source) for source, canonical in mapping.items()})
    return frame.rename(columns=mapping), names


def _mapped_columns(
    frame: gpd.GeoDataFrame, given: dict[str, str], schema: LayerSchema, out: LayerProblems
) -> dict[str, str]:
    """``source → canonical`` for the scenario's mappings that name a known column and a
    column present in the file; the others are reported."""
    mapping: dict[str, str] = {}
    for canonical, source in given.items():
        if canonical not in schema.names:
            out.add(
                "error",
                f"unknown column mapping {canonical!r} for layer kind {schema.kind!r}",
                fix=f"use one of: {', '.join(schema.names)}",
            )
        elif source not in frame.columns:
            out.add(
                "error",
                f"mapped column {source!r} (for {canonical}) not found",
                column=source,
                fix=f"columns present: {', '.join(map(str, frame.columns))}",
            )
        else:
            mapping[source] = canonical
    return mapping


def _alias_columns(
    frame: gpd.GeoDataFrame, schema: LayerSchema, raw: RawLayer, mapping: dict[str, str]
) -> dict[str, str]:
    """``source → canonical`` for canonical columns neither mapped nor present, found by
    their first alias present (never a column already mapped or the lon/lat columns)."""
    lookup = {str(c).strip().lower(): c for c in frame.columns}
    found: dict[str, str] = {}
    for col in schema.columns:
        if col.name in mapping.values() or col.name in frame.columns:
            continue
        for alias in COLUMN_ALIASES.get(col.name, ()):
            source = lookup.get(alias.lower())
            if (
                source is not None
                and source not in mapping
                and source not in found
                and source not in (raw.lon_column, raw.lat_column)
            ):
                found[source] = col.name
                break
    return found


def _check_duplicate_columns(
    frame: gpd.GeoDataFrame,
    schema: LayerSchema,
    raw: RawLayer,
    mapping: dict[str, str],
    out: LayerProblems,
) -> None:
    """A repeated column name is an error when the planner reads that column, else a note."""
    for name in raw.duplicate_columns:
        used = (
            name in mapping
            or name in (raw.lon_column, raw.lat_column)
            or (name in schema.names and name not in mapping.values())
        )
        copies = [c for c in frame.columns if str(c).startswith(f"{name}.")]
        if used:
            out.add(
                "error",
                f"the column name {name!r} appears {len(copies) + 1} times; "
                "the planner cannot tell which one to use",
                column=name,
                fix="rename or delete the extra columns",
            )
        else:
            out.add(
                "warning",
                f"the column name {name!r} appears {len(copies) + 1} times; the later ones "
                f"are read as {', '.join(map(repr, copies))}",
                column=name,
                fix="give every column its own name",
            )


def coerce_columns(
    frame: gpd.GeoDataFrame,
    schema: LayerSchema,
    rows: np.ndarray,
    out: LayerProblems,
    names: dict[str, str],
) -> gpd.GeoDataFrame:
    """Type every canonical column; problems name the user's column (``names``)."""
    for col in schema.columns:
        if col.name in frame.columns:
            coerce = _COERCE[col.dtype]
            frame[col.name] = coerce(frame[col.name], col, rows, out, names.get(col.name, col.name))
        elif col.required:
            out.add(
                "error",
                f"required column {col.name!r} is missing",
                column=col.name,
                fix=f'add it, or map it with {col.name} = "<source column>"',
            )
    if schema.unique_id and "id" in frame.columns:
        dup = frame["id"].duplicated(keep=False) & frame["id"].notna()
        out.rows(
            "error",
            dup.to_numpy(),
            rows,
            "duplicate id {value!r}",
            column=names.get("id", "id"),
            values=frame["id"],
            fix="ids must be unique within the layer",
        )
    return frame


def _coerce_code(
    values: pd.Series, col: Column, rows: np.ndarray, out: LayerProblems, where: str
) -> pd.Series:
    """Identifiers as text; an empty one is an error in a required column."""
    codes = as_code(values)
    if col.required:
        out.rows(
            "error",
            codes.isna().to_numpy(),
            rows,
            "empty id",
            column=where,
            fix="give every feature an id",
        )
    return codes


def _coerce_text(
    values: pd.Series, col: Column, rows: np.ndarray, out: LayerProblems, where: str
) -> pd.Series:
    """Text, trimmed."""
    return values.astype("string").str.strip()


def _coerce_bool(
    values: pd.Series, col: Column, rows: np.ndarray, out: LayerProblems, where: str
) -> pd.Series:
    """Yes/no cells (:func:`planner.schemas.parse_bool`); others are left empty."""
    if pd.api.types.is_bool_dtype(values.dtype) and not values.hasnans:
        return values.astype("boolean")
    parsed = by_distinct(values, parse_bool)
    out.rows(
        "warning",
        (parsed.isna() & values.notna()).to_numpy(),
        rows,
        "not a yes/no value: {value!r} (left empty)",
        column=where,
        values=values,
    )
    return parsed.astype("boolean")


def _coerce_level(
    values: pd.Series, col: Column, rows: np.ndarray, out: LayerProblems, where: str
) -> pd.Series:
    """Canonical levels; an empty or unknown level is an error."""
    levels = by_distinct(values, try_normalize_level)
    blank = values.astype("string").str.strip().fillna("").eq("").to_numpy()
    out.rows(
        "error",
        blank,
        rows,
        "empty level",
        column=where,
        fix="give every center its level (city, county, township, village …)",
    )
    out.rows(
        "error",
        levels.isna().to_numpy() & ~blank,
        rows,
        "unknown level {value!r}",
        column=where,
        values=values,
        fix="use city, county, township, subcenter, village, "
        "station or a Chinese alias (县级, 乡镇, 村, 社区, 分中心, 驿站 …)",
    )
    return levels.astype("string")


def _coerce_number(
    values: pd.Series, col: Column, rows: np.ndarray, out: LayerProblems, where: str
) -> pd.Series:
    """Numbers (or years) of one column; text, non-finite, negative, implausibly large and,
    for a required column, empty cells are reported. Refused values become missing."""
    values, blank = _blanks_missing(values)
    number = pd.to_numeric(values, errors="coerce").astype(float).to_numpy()
    refused = np.zeros(len(number), dtype=bool)
    for problem, mask, fix in _number_checks(number, blank, col):
        out.rows("error", mask, rows, problem, column=where, values=values, fix=fix)
        refused |= mask
    if col.required:
        out.rows(
            "warning",
            blank,
            rows,
            f"{where} is empty; counted as 0",
            column=where,
            fix="fill in the number if it is known",
        )
    number = np.where(refused, np.nan, number)
    series = pd.Series(number, index=values.index)
    return series.astype("Int64") if col.dtype == "year" else series


def _blanks_missing(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Text cells trimmed with blanks made missing, and which cells are blank."""
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        text = values.astype("string").str.strip()
        return text.mask(text.eq("")), (text.isna() | text.eq("")).to_numpy(dtype=bool)
    return values, values.isna().to_numpy(dtype=bool)


def _number_checks(
    number: np.ndarray, blank: np.ndarray, col: Column
) -> list[tuple[str, np.ndarray, str]]:
    """``(problem, flagged rows, fix)`` for every check a number of ``col`` must pass."""
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(number)
        checks = [
            (
                "not a number: {value!r}",
                np.isnan(number) & ~blank,
                "write plain numbers (no units or text)",
            ),
            ("not a finite number: {value}", np.isinf(number), "write a plain number"),
            ("negative value: {value}", finite & (number < 0), ""),
        ]
        if col.maximum is not None:
            checks.append(
                (
                    f"implausibly large: {{value}} (more than {col.maximum:,.0f})",
                    finite & (number > col.maximum),
                    "check the value and its unit",
                )
            )
        if col.dtype == "year":
            low, high = YEAR_RANGE
            checks.append(
                (
                    "not a year: {value}",
                    finite & ((number != np.round(number)) | (number < low) | (number > high)),
                    f"write a year between {low} and {high}",
                )
            )
    return checks


_COERCE: dict[str, Callable[..., pd.Series]] = {
    "code": _coerce_code,
    "text": _coerce_text,
    "number": _coerce_number,
    "year": _coerce_number,
    "bool": _coerce_bool,
    "level": _coerce_level,
}
