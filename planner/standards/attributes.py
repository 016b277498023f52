"""Attributes of service centers as the compliance checks read them (vectorised).

:class:`Centers` coerces each attribute a rule uses once (numbers, yes/no flags, lists of
rooms, zones or windows matched against a profile's vocabulary) and raises a
:class:`~planner.errors.PlannerError` naming the center and the value it cannot read.
:mod:`planner.standards.checks` evaluates the rules on them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner.errors import PlannerError
from planner.levels import LEVELS, normalize_level
from planner.standards.profiles import normalize_name

__all__ = ["Centers", "Items"]


_SPLIT = r"[;,、]"  # applied after NFKC, which folds the full-width ；and ，
_EMPTY_MARKERS = frozenset({"无", "没有", "none"})
_YES = frozenset({"true", "t", "yes", "y", "1", "是", "有", "对", "√"})
_NO = frozenset({"false", "f", "no", "n", "0", "否", "无", "没有", "×"})


@dataclass
class Items:
    """The names listed in one room/zone/window column, one entry per listed name."""

    known: np.ndarray  # (n,) bool: the list was recorded (possibly as "无" = none)
    pos: np.ndarray  # row position of each name
    term: np.ndarray  # index of its vocabulary term, -1 when unrecognised
    token: np.ndarray  # term key, or "?" + normalised text when unrecognised
    text: np.ndarray  # as written (NFKC, stripped)


def _parse_list(value: str) -> list[tuple[str, str]]:
    """``(text, normalised)`` of every name listed in one cell."""
    parts = (part.strip() for part in re.split(_SPLIT, unicodedata.normalize("NFKC", value)))
    return [(part, norm) for part in parts if (norm := normalize_name(part))]


class Centers:
    """Center attributes, coerced once and cached, addressed by row position."""

    def __init__(self, centers: pd.DataFrame, assume: dict[str, bool | float]):
        if "id" not in centers.columns:
            raise PlannerError("centers: column 'id' is missing (map it in [layers.centers])")
        if "level" not in centers.columns:
            raise PlannerError("centers: column 'level' is missing (map it in [layers.centers])")
        self.frame = centers
        self.assume = assume
        self.n = len(centers)
        self.ids = centers["id"].astype("string").fillna("").to_numpy(dtype=object)
        self.levels = self._levels()
        self.level_code = pd.Categorical(self.levels, categories=LEVELS).codes
        self._numbers: dict[str, np.ndarray] = {}
        self._flags: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._lists: dict[str, Items] = {}

    def _bad(self, column: str, mask: np.ndarray, raw: pd.Series, expected: str) -> PlannerError:
        i = int(np.flatnonzero(mask)[0])
        return PlannerError(
            f"centers: column {column!r}, center {self.ids[i]!r}: cannot read "
            f"{raw.iloc[i]!r} as {expected} ({int(mask.sum())} such value(s))"
        )

    def _levels(self) -> np.ndarray:
        raw = self.frame["level"]
        uniq = pd.unique(raw.astype("string").fillna(""))
        mapping: dict[str, str] = {}
        for value in uniq:
            try:
                mapping[value] = normalize_level(value)
            except PlannerError as exc:
                bad = (raw.astype("string").fillna("") == value).to_numpy()
                raise PlannerError(f"{self._bad('level', bad, raw, 'a level')}: {exc}") from None
        return raw.astype("string").fillna("").map(mapping).to_numpy(dtype=object)

    def number(self, column: str) -> np.ndarray:
        """Float values, NaN where missing."""
        if column not in self._numbers:
            x = self._number(column)
            fill = self.assume.get(column)
            if fill is not None and not isinstance(fill, bool):
                x = np.where(np.isnan(x), float(fill), x)
            self._numbers[column] = x
        return self._numbers[column]

    def _number(self, column: str) -> np.ndarray:
        if column not in self.frame.columns:
            return np.full(self.n, np.nan)
        raw = self.frame[column]
        if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
            return raw.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        text = raw.astype("string").str.strip().str.replace(",", "", regex=False)
        text = text.mask(text == "")
        values = pd.to_numeric(text, errors="coerce").astype("Float64")
        bad = (values.isna() & text.notna()).to_numpy()
        if bad.any():
            raise self._bad(column, bad, raw, "a number")
        return values.to_numpy(dtype=float, na_value=np.nan)

    def flag(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """``(value, known)`` boolean arrays of a yes/no attribute."""
        if column not in self._flags:
            value, known = self._flag(column)
            fill = self.assume.get(column)
            if isinstance(fill, bool):
                value, known = np.where(known, value, fill), np.ones(self.n, bool)
            self._flags[column] = (value, known)
        return self._flags[column]

    def _flag(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        if column not in self.frame.columns:
            return np.zeros(self.n, bool), np.zeros(self.n, bool)
        raw = self.frame[column]
        if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
            x = raw.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
            known = ~np.isnan(x)
            if (bad := known & (x != 0) & (x != 1)).any():
                raise self._bad(column, bad, raw, "yes/no (1 or 0)")
            return x == 1, known
        text = raw.astype("string").str.strip().str.casefold()
        text = text.mask(text == "")
        value = text.isin(_YES).to_numpy()
        known = value | text.isin(_NO).to_numpy()
        bad = (text.notna().to_numpy()) & ~known
        if bad.any():
            raise self._bad(column, bad, raw, "yes/no (true/false, 1/0, 是/否)")
        return value, known

    def items(self, column: str, aliases: dict[str, str], terms: list[str]) -> Items:
        """The names listed in a room/zone/window column, matched against ``aliases``."""
        if column not in self._lists:
            self._lists[column] = self._items(column, aliases, terms)
        return self._lists[column]

    def _items(self, column: str, aliases: dict[str, str], terms: list[str]) -> Items:
        if column not in self.frame.columns:
            none = np.zeros(0, dtype=object)
            return Items(np.zeros(self.n, bool), np.zeros(0, int), np.zeros(0, int), none, none)
        codes, uniq = pd.factorize(self.frame[column].astype("string"))
        parsed = [_parse_list(value) for value in uniq]  # once per distinct cell text
        known = np.zeros(self.n, bool)
        recorded = np.array([bool(p) for p in parsed] + [False])  # code -1 (NA) → last
        known[:] = recorded[codes]
        names = [[(t, nm) for t, nm in p if nm not in _EMPTY_MARKERS] for p in parsed]
        lengths = np.array([len(x) for x in names] + [0])[codes]
        index = {key: i for i, key in enumerate(terms)}
        flat = [(t, nm, aliases.get(nm)) for x in names for t, nm in x]
        text = np.array([f[0] for f in flat], dtype=object)
        term = np.array([index[f[2]] if f[2] else -1 for f in flat], dtype=int)
        token = np.array([f[2] or "?" + f[1] for f in flat], dtype=object)
        offsets = np.r_[0, np.cumsum([len(x) for x in names])].astype(int)
        pos = np.repeat(np.arange(self.n), lengths)
        within = np.arange(len(pos)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        idx = offsets[codes[pos]] + within
        return Items(known, pos, term[idx], token[idx], text[idx])
