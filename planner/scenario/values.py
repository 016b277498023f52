"""Single scenario values: their checks and how messages quote them.

The validators of the scenario's sections (:mod:`planner.scenario.sections`) refuse an unknown or
non-metric CRS, a value that is neither text nor a whole number, a path with a NUL
character and an unknown level, and turn a scenario name into a safe folder name.
Messages quote values as the user wrote them in TOML (:func:`describe`) and suggest the
closest known word (:func:`did_you_mean`).
"""

from __future__ import annotations

import difflib
import json
import unicodedata
from pathlib import Path
from typing import Any

import pyproj

from planner.errors import PlannerError
from planner.levels import LEVELS, normalize_level

#: Characters Windows does not allow in a file name.
_ILLEGAL_IN_FILE_NAME = '<>:"/\\|?*'
_WINDOWS_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
     *(f"LPT{i}" for i in range(1, 10))}
)  # fmt: skip


def did_you_mean(word: str, choices: Any) -> str:
    """`` (did you mean X?)`` for the closest of ``choices``, or ``""``."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def describe(value: Any) -> str:
    """A value as the user wrote it in TOML, cut short when long."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 60 else text[:57] + '…"'
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def check_crs(value: str | int, *, metric: bool) -> str | int:
    """Refuse a CRS pyproj does not know; ``metric``: it must be projected in metres."""
    try:
        crs = pyproj.CRS.from_user_input(value)
    except (pyproj.exceptions.CRSError, ValueError, TypeError, OverflowError):
        raise ValueError(
            f'unknown CRS {describe(value)}; give an EPSG code such as "EPSG:4490"'
        ) from None
    if metric and not (crs.is_projected and {a.unit_name for a in crs.axis_info} == {"metre"}):
        raise ValueError(
            f'{describe(value)} ({crs.name}) is not a projected CRS in metres; use "auto" or '
            "a metric projection such as a CGCS2000 Gauss-Krüger zone (EPSG:4534–4554)"
        )
    if not (crs.is_projected or crs.is_geographic):
        raise ValueError(
            f"{describe(value)} ({crs.name}) is a {crs.type_name}, not a map CRS; use a "
            'geographic or projected CRS such as "EPSG:4490"'
        )
    return value


def text_or_code(value: Any) -> Any:
    """Refuse anything but text or a whole number (an EPSG code, a sheet index)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"expected text or a whole number, got {describe(value)}")
    return value


def no_nul(value: Path | str | None) -> Any:
    """Refuse a path containing a NUL character."""
    if value is not None and "\x00" in str(value):
        raise ValueError("a path may not contain a NUL character")
    return value


def level_key(value: Any) -> str:
    """The canonical level of a ``[levels.*]`` key or an ``also`` entry."""
    try:
        return normalize_level(value)
    except PlannerError as exc:
        raise ValueError(f"{exc}{did_you_mean(str(value).strip().lower(), LEVELS)}") from None


def safe_folder_name(name: str) -> str:
    """A folder name for ``name`` that stays one plain folder on every system.

    Path separators and characters Windows forbids become ``_``, leading and trailing dots
    and spaces are dropped (so ``..`` or ``../../x`` never climb out), Windows device names
    (``CON``, ``NUL`` …) get a ``_`` appended, the result is cut to 120 bytes of UTF-8, and
    an empty result becomes ``scenario``. Chinese and other letters are kept.
    """
    text = "".join(
        "_" if ch in _ILLEGAL_IN_FILE_NAME or unicodedata.category(ch) == "Cc" else ch
        for ch in name
    )
    while len(text.encode("utf-8")) > 120:
        text = text[:-1]
    text = text.strip(". ")
    if text.split(".")[0].upper() in _WINDOWS_DEVICES:
        text += "_"
    return text or "scenario"
