"""Tabular outputs: CSV and JSON, and the guard against spreadsheet formulas.

:func:`write_csv` writes UTF-8 *with* a byte-order mark so that Excel opens Chinese text
correctly (without it Excel assumes the local ANSI code page), and puts a ``'`` before
every text cell and header that a spreadsheet would run as a formula
(:func:`defuse_formula`, the OWASP rule against CSV injection). Excel workbooks are
written by :mod:`planner.outputs.xlsx`.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from planner.errors import PlannerError
from planner.outputs.atomic import atomic_path

__all__ = [
    "FORMULA_STARTS",
    "defuse_formula",
    "defuse_formulas",
    "plain_table",
    "unique_name",
    "write_csv",
    "write_json",
]

#: Text a spreadsheet reads as a formula when it starts a cell (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# a negative decimal number, which a spreadsheet reads as that number (nothing runs)
_NEGATIVE_NUMBER = re.compile(r"-(?:\d+\.?\d*|\.\d+)")


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as UTF-8 JSON (Chinese kept as is), atomically.

    numpy and pandas scalars and arrays become plain numbers and lists; NaN, infinity,
    ``pd.NA`` and ``NaT`` become ``null``; timestamps become ISO 8601 text; paths text.
    """
    target = Path(path)
    text = json.dumps(_jsonable(obj), ensure_ascii=False, indent=2, allow_nan=False)
    with atomic_path(target) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return target


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset | np.ndarray | pd.Series | pd.Index):
        return [_jsonable(v) for v in (obj.tolist() if hasattr(obj, "tolist") else obj)]
    if isinstance(obj, pd.DataFrame):
        return [_jsonable(r) for r in obj.to_dict("records")]
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, str | bool | int):
        return obj
    if isinstance(obj, pd.Timestamp | pd.Timedelta) or hasattr(obj, "isoformat"):
        return None if pd.isna(obj) else obj.isoformat()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if pd.isna(obj):
        return None
    raise PlannerError(f"cannot write a {type(obj).__name__} to JSON: {obj!r}")


def write_csv(path: str | os.PathLike[str], df: pd.DataFrame) -> Path:
    """Write a table as CSV in UTF-8 with a byte-order mark, atomically.

    The byte-order mark makes Excel read the file as UTF-8 (it otherwise assumes the
    ANSI code page and garbles Chinese); pandas, Python's ``csv`` with ``utf-8-sig`` and
    GDAL skip it. Geometry columns are written as WKT; the index is not written. Text
    cells and headers starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
    get a leading ``'`` (:func:`defuse_formulas`), so Excel and WPS show them as text
    instead of running them; number columns and negative numbers written as text
    (``-5``) are written as they are. Rows end with CRLF (RFC 4180), so a cell holding
    a line break or a lone carriage return is quoted and cannot start a row of its own.
    """
    target = Path(path)
    with atomic_path(target) as tmp:
        defuse_formulas(plain_table(df)).to_csv(
            tmp, index=False, encoding="utf-8-sig", lineterminator="\r\n"
        )
    return target


def defuse_formula(value: Any) -> Any:
    """``value`` with a ``'`` before it when it is text a spreadsheet would run as a
    formula (it starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return);
    anything else unchanged, a negative number written as text (``-5``, ``-0.25``)
    included: a spreadsheet reads it as that number and nothing runs (as ``defusedcsv``
    does). ``+1`` is prefixed: data does not write numbers so, formulas do."""
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_STARTS)
        and not _NEGATIVE_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def defuse_formulas(table: pd.DataFrame) -> pd.DataFrame:
    """A table safe to open in Excel or WPS: :func:`defuse_formula` on the header and on
    every text cell. Number, boolean and date columns are not text and stay as they are,
    negative numbers included."""
    out = table.rename(columns=defuse_formula)
    for pos in range(out.shape[1]):
        column = out.iloc[:, pos]
        if column.dtype != object and not isinstance(
            column.dtype, pd.StringDtype | pd.CategoricalDtype
        ):
            continue
        risky = [(i, v) for i, v in _formula_starts(column) if defuse_formula(v) is not v]
        if risky:
            categorical = isinstance(column.dtype, pd.CategoricalDtype)
            fixed = column.astype(object) if categorical else column.copy()
            fixed.iloc[[i for i, _ in risky]] = ["'" + v for _, v in risky]
            out.isetitem(pos, fixed)  # type: ignore[arg-type]  # stubs omit Series values
    return out


def _formula_starts(column: pd.Series) -> list[tuple[int, str]]:
    """Position and text of every text cell of ``column`` starting with one of
    :data:`FORMULA_STARTS`; a text column is searched without a Python loop over its
    rows."""
    if isinstance(column.dtype, pd.StringDtype):
        hits = column.str.startswith(FORMULA_STARTS).fillna(False).to_numpy(bool)
        starts = np.flatnonzero(hits)
        return list(zip(starts.tolist(), column.iloc[starts].tolist(), strict=True))
    cells = column.to_numpy(object)
    return [
        (i, v) for i, v in enumerate(cells) if isinstance(v, str) and v.startswith(FORMULA_STARTS)
    ]


def plain_table(df: pd.DataFrame) -> pd.DataFrame:
    """Geometry → WKT, time-zone-aware timestamps → naive local time (a new frame; the
    columns it does not change are shared with ``df`` until written to, copy on write)."""
    out = pd.DataFrame(df)
    for col in out.columns:
        series = out[col]
        if isinstance(series.dtype, gpd.array.GeometryDtype):
            out[col] = gpd.GeoSeries(series).to_wkt()
        elif isinstance(series.dtype, pd.DatetimeTZDtype):
            out[col] = series.dt.tz_localize(None)
    return out


def unique_name(base: str, limit: int, used: set[str], *, tail: str, first: int) -> str:
    """``base`` cut to ``limit`` characters; while that is taken (``used`` holds lower-case
    names), ``tail.format(n=first)``, ``tail.format(n=first + 1)``, … replaces its end."""
    name, n = base[:limit], first
    while name.lower() in used:
        suffix = tail.format(n=n)
        name = base[: limit - len(suffix)] + suffix
        n += 1
    return name
