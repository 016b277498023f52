"""Ledgers (CSV and Excel tables) as read: a header, rows and the user's row numbers.

Cells are read without a header (:data:`RAW_CELLS`); :func:`ledger_from_cells` then takes
the first row that is not blank as the header, drops blank rows and columns, makes
repeated column names unique and keeps the spreadsheet row number of every row, so
every later problem can name the row the user sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from pandas._typing import Scalar

#: How pandas reads a ledger's cells (CSV and Excel alike): no header yet, and only empty
#: cells missing (``NA`` or ``null`` stay the text they are).
RAW_CELLS: dict[str, Any] = {"header": None, "keep_default_na": False, "na_values": [""]}


@dataclass(frozen=True)
class Note:
    """A warning found while reading a file: the user's row and column, what and what to do."""

    row: int
    column: str
    problem: str
    fix: str = ""


@dataclass(frozen=True)
class Ledger:
    """A CSV/Excel/Parquet table as read: cells, the user's row numbers, what was noticed."""

    table: pd.DataFrame
    rows: np.ndarray
    encoding: str | None = None
    duplicate_columns: tuple[str, ...] = ()
    notes: tuple[Note, ...] = ()


def is_blank(value: object) -> bool:
    """An empty cell: missing, NaN/NaT, or only spaces."""
    if isinstance(value, str):
        return not value.strip()
    # pandas-stubs type is_scalar as a plain bool, not a guard: the cast says what it checked
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(cast("Scalar", value))))


def _header_text(value: object, position: int) -> str:
    if is_blank(value):
        return f"Unnamed: {position}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def ledger_from_cells(cells: pd.DataFrame, *, encoding: str | None = None) -> Ledger:
    """Split raw cells (read without a header) into header and rows, dropping blank rows."""
    blank = cells.map(is_blank).to_numpy(dtype=bool) if cells.size else np.ones(cells.shape, bool)
    filled = np.flatnonzero(~blank.all(axis=1))
    if not filled.size:
        return Ledger(pd.DataFrame(), np.zeros(0, dtype=np.int64), encoding)
    head = int(filled[0])
    names = [_header_text(v, j) for j, v in enumerate(cells.iloc[head])]
    keep_col = ~(blank[head + 1 :].all(axis=0) & blank[head])
    body = blank[head + 1 :][:, keep_col]
    keep_row = ~body.all(axis=1) if keep_col.any() else np.zeros(len(body), bool)
    table = cells.iloc[head + 1 :, keep_col].iloc[keep_row]
    names = [n for n, k in zip(names, keep_col, strict=True) if k]
    unique, duplicates = _unique_names(names)
    table = table.set_axis(unique, axis=1).reset_index(drop=True)
    rows = np.flatnonzero(keep_row) + head + 2  # sheet/record rows are 1-based
    return Ledger(table, rows, encoding, duplicates)


def _unique_names(names: list[str]) -> tuple[list[str], tuple[str, ...]]:
    """Names made unique (``a``, ``a.1``, ``a.2``) and the names that were repeated."""
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        unique.append(name if not count else f"{name}.{count}")
    return unique, tuple(n for n, c in seen.items() if c > 1)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
