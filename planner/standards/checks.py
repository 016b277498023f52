"""Compliance checks of service centers against a standards profile (vectorised).

Profiles, their format and their loader are in :mod:`planner.standards`.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from planner.errors import PlannerError
from planner.levels import LEVELS, normalize_level
from planner.standards.profiles import LANGS, Case, Profile, Rule, load_profile, normalize_name

_SPLIT = r"[;,、]"  # applied after NFKC, which folds the full-width ；and ，
_EMPTY_MARKERS = frozenset({"无", "没有", "none"})
_YES = frozenset({"true", "t", "yes", "y", "1", "是", "有", "对", "√"})
_NO = frozenset({"false", "f", "no", "n", "0", "否", "无", "没有", "×"})
_OPS = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
        "eq": np.equal}  # fmt: skip
_TEXT = {
    "en": {"or": " or ", "sep": "; ", "list": ", ", "colon": ": ", "comma": ", ",
           "open": " (", "close": ")", "missing": "missing ",
           "unrecognised": "not recognised: ", "no_data": "no data in ",
           "depends": "depends on ", "no_data_tag": " (no data)", "unknown": "unknown",
           "required": "required ", "includes": "includes ", "items": " items"},
    "zh": {"or": " 或 ", "sep": "；", "list": "、", "colon": "：", "comma": "，",
           "open": "（", "close": "）", "missing": "缺少 ",
           "unrecognised": "未识别：", "no_data": "无数据：", "depends": "取决于 ",
           "no_data_tag": "（无数据）", "unknown": "无法判定", "required": "要求 ",
           "includes": "包含 ", "items": " 个"},
}  # fmt: skip


# --------------------------------------------------------------------------------------
# Reading center attributes
# --------------------------------------------------------------------------------------
@dataclass
class _Items:
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


class _Centers:
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
        self._lists: dict[str, _Items] = {}

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

    def items(self, column: str, aliases: dict[str, str], terms: list[str]) -> _Items:
        """The names listed in a room/zone/window column, matched against ``aliases``."""
        if column not in self._lists:
            self._lists[column] = self._items(column, aliases, terms)
        return self._lists[column]

    def _items(self, column: str, aliases: dict[str, str], terms: list[str]) -> _Items:
        if column not in self.frame.columns:
            none = np.zeros(0, dtype=object)
            return _Items(np.zeros(self.n, bool), np.zeros(0, int), np.zeros(0, int), none, none)
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
        return _Items(known, pos, term[idx], token[idx], text[idx])


# --------------------------------------------------------------------------------------
# Rule evaluation
# --------------------------------------------------------------------------------------
@dataclass
class _CaseResult:
    value: np.ndarray  # measured number (or count of required items present)
    passed: np.ndarray
    required: float
    threshold: str
    detail: np.ndarray | None = None  # includes: per row, the required names missing


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"


def _unique_rows(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a boolean matrix and, per row, the index of its distinct row."""
    if mask.shape[1] > 62:
        rows, inverse = np.unique(mask, axis=0, return_inverse=True)
        return rows, inverse.ravel()
    codes = mask.astype(np.int64) @ (np.int64(1) << np.arange(mask.shape[1], dtype=np.int64))
    _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    return mask[first], inverse


def _join_by_pos(n: int, pos: np.ndarray, text: Iterable[str], sep: str) -> np.ndarray:
    """Join the texts of each row position (in their order); "" for rows without any."""
    out = np.full(n, "", dtype=object)
    if len(pos) == 0:
        return out
    order = np.argsort(pos, kind="stable")
    words = pd.Series(text, dtype=object).to_numpy()[order].tolist()
    p = pos[order]
    starts = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])
    ends = np.r_[starts[1:], len(p)].tolist()
    out[p[starts]] = [sep.join(words[a:b]) for a, b in zip(starts.tolist(), ends, strict=True)]
    return out


def _holds(
    c: _Centers, when: dict[str, object], fill: dict[str, float], idx: np.ndarray
) -> np.ndarray:
    """Where ``when`` holds on rows ``idx``, missing values taken from ``fill``."""
    out = np.ones(len(c.level_code[idx]), bool)
    for key, cond in when.items():
        if isinstance(cond, tuple):  # level names (only ``level`` is a tuple)
            out &= np.isin(c.level_code[idx], [LEVELS.index(level) for level in cond])
        elif isinstance(cond, bool):
            value, known = c.flag(key)
            out &= np.where(known[idx], value[idx], bool(fill[key])) == cond
        elif isinstance(cond, dict):
            x = c.number(key)[idx]
            x = np.where(np.isnan(x), fill[key], x)
            out &= np.logical_and.reduce([_OPS[op](x, v) for op, v in cond.items()])
    return out


def _missing(c: _Centers, key: str, flag: bool) -> np.ndarray:
    return ~c.flag(key)[1] if flag else np.isnan(c.number(key))


def _domains(whens: list[dict[str, object]]) -> dict[str, tuple[float, ...]]:
    """Values that realise every truth combination of the conditions, per attribute."""
    flags = {k for w in whens for k, v in w.items() if isinstance(v, bool)}
    cuts: dict[str, set[float]] = {}
    for w in whens:
        for key, cond in w.items():
            if isinstance(cond, dict) and key not in flags:
                cuts.setdefault(key, set()).update(cond.values())
    out: dict[str, tuple[float, ...]] = {k: (1.0, 0.0) for k in sorted(flags)}
    for key, values in sorted(cuts.items()):
        v = np.array(sorted(values))
        mids = (v[:-1] + v[1:]) / 2
        out[key] = (v[0] - 1, *np.concatenate([v, mids]), v[-1] + 1)
    return out


def _deciders(c: _Centers, rule: Rule) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Which case decides under some completion of the missing condition attributes.

    Returns ``may`` ((n, k+1) bool; column k = no case applies) and, per condition
    attribute, where it is missing. Exact: every truth combination of the conditions is
    tried on the missing values (known values are never replaced).
    """
    whens = [{**rule.when, **case.when} for case in rule.cases]
    domains = _domains(whens)
    flags = {key for w in whens for key, v in w.items() if isinstance(v, bool)}
    missing = {key: _missing(c, key, key in flags) for key in domains}
    gaps = np.flatnonzero(np.logical_or.reduce([*missing.values(), np.zeros(c.n, bool)]))
    may = np.zeros((c.n, len(whens) + 1), bool)
    for i, combo in enumerate(itertools.product(*domains.values())):
        if i and not len(gaps):
            break
        rows = np.arange(c.n) if i == 0 else gaps  # later completions only matter at gaps
        fill = dict(zip(domains, combo, strict=True))
        holds = np.column_stack(
            [_holds(c, w, fill, rows) for w in whens] + [np.ones(len(rows), bool)]
        )
        may[rows, holds.argmax(axis=1)] = True
    return may, missing


def _evaluate_case(c: _Centers, profile: Profile, rule: Rule, case: Case, lang: str) -> _CaseResult:
    t = _TEXT[lang]
    unit = f" {rule.unit}" if rule.unit else ""
    if rule.kind == "number":
        x = c.number(rule.attribute)
        op, limit = _limit(case)
        passed = x >= limit if op == ">=" else x > limit
        result = _CaseResult(x, passed, limit, f"{'≥' if op == '>=' else '>'} {_fmt(limit)}{unit}")
    elif rule.kind == "count":
        items = _listed(c, profile, rule)
        keep = ~np.isin(items.token, list(rule.exclude))
        token_id = pd.factorize(items.token[keep])[0]
        pairs = np.unique(items.pos[keep] * (token_id.max(initial=0) + 1) + token_id)
        x = np.bincount(pairs // (token_id.max(initial=0) + 1), minlength=c.n).astype(float)
        limit = _limit(case)[1]
        result = _CaseResult(x, x >= limit, limit, f"≥ {_fmt(limit)}{t['items']}")
    else:
        result = _includes_case(c, profile, rule, case.require or (), lang)
    note = case.note_zh if lang == "zh" else case.note_en
    if note:
        result.threshold += _TEXT[lang]["open"] + note + _TEXT[lang]["close"]
    return result


def _limit(case: Case) -> tuple[str, float]:
    """The one threshold of a number or count case: ``(">=", min)`` or ``(">", above)``."""
    if case.min is not None:
        return ">=", case.min
    assert case.above is not None, "Rule validation gives a number case min or above"
    return ">", case.above


def _listed(c: _Centers, profile: Profile, rule: Rule) -> _Items:
    terms = list(profile.vocabulary.get(rule.attribute, {}))
    return c.items(rule.attribute, profile.aliases(rule.attribute), terms)


def _includes_case(
    c: _Centers, profile: Profile, rule: Rule, require: tuple[str, ...], lang: str
) -> _CaseResult:
    t = _TEXT[lang]
    items = _listed(c, profile, rule)
    terms = list(profile.vocabulary[rule.attribute])
    column = np.full(len(terms) + 1, -1)  # term index → column of `present` (-1: other)
    column[[terms.index(k) for k in require]] = np.arange(len(require))
    col = column[items.term]
    present = np.zeros((c.n, len(require)), bool)
    present[items.pos[col >= 0], col[col >= 0]] = True
    labels = [profile.term_label(rule.attribute, k, lang) for k in require]
    rows, inverse = _unique_rows(~present)
    missing = [t["list"].join(lab for lab, m in zip(labels, row, strict=True) if m) for row in rows]
    return _CaseResult(
        present.sum(axis=1).astype(float), np.all(present, axis=1), float(len(require)),
        t["includes"] + t["list"].join(labels), np.array(missing, dtype=object)[inverse],
    )  # fmt: skip


def _unrecognised(c: _Centers, profile: Profile, rule: Rule, lang: str) -> np.ndarray:
    """Per row, the listed names that match no term of the rule's attribute."""
    items = _listed(c, profile, rule)
    other = items.term < 0
    return _join_by_pos(c.n, items.pos[other], items.text[other], _TEXT[lang]["list"])


def _measured(
    c: _Centers, profile: Profile, rule: Rule, value: np.ndarray, lang: str
) -> np.ndarray:
    """Display text of the measured value (``value``: the number or count, any case)."""
    if rule.kind != "includes":
        unit = f" {rule.unit}" if rule.unit and rule.kind == "number" else ""
        uniq, inverse = np.unique(value, return_inverse=True)  # NaNs collapse into one
        text = np.array([_fmt(v) + unit if v == v else "" for v in uniq], dtype=object)
        return text[inverse]
    items = _listed(c, profile, rule)
    terms = list(profile.vocabulary[rule.attribute])
    labels = np.array([profile.term_label(rule.attribute, k, lang) for k in terms], dtype=object)
    pairs = np.unique(items.pos[items.term >= 0] * len(terms) + items.term[items.term >= 0])
    return _join_by_pos(c.n, pairs // len(terms), labels[pairs % len(terms)], _TEXT[lang]["list"])


def _evaluate_rule(c: _Centers, profile: Profile, rule: Rule, lang: str) -> dict[str, np.ndarray]:
    """Result columns, one row per center the rule (possibly) applies to.

    When condition attributes are missing, several cases may decide (or none); the verdict
    is definite only when all of them give the same answer, and "no case applies" counts as
    compatible with a pass.
    """
    if rule.kind == "number":
        known = ~np.isnan(c.number(rule.attribute))
    else:
        known = _listed(c, profile, rule).known
    may, missing = _deciders(c, rule)
    results = [_evaluate_case(c, profile, rule, case, lang) for case in rule.cases]
    cases = may[:, :-1]
    passed = np.column_stack([r.passed for r in results])
    may_pass = (cases & passed).any(axis=1) & known
    may_fail = (cases & ~passed).any(axis=1) & known
    applies = cases.any(axis=1)
    undecided = (applies & ~known) | (may_pass & may_fail) | (may_fail & may[:, -1])
    verdict = np.select([undecided, may_fail, may_pass], ["unknown", "fail", "pass"], "n/a")
    rows = np.flatnonzero(applies)
    pick = cases[rows].argmax(axis=1)  # the first case that may decide gives the figures
    v = verdict[rows]
    t = _TEXT[lang]
    codes, inverse = _unique_rows(cases[rows])
    options = [t["or"].join(results[j].threshold for j in np.flatnonzero(code)) for code in codes]
    detail = np.full(len(rows), "", dtype=object)
    if rule.kind == "includes":
        fail = v == "fail"
        details = [r.detail for r in results if r.detail is not None]  # every includes case
        missing_names = np.column_stack(details)[rows[fail], pick[fail]]
        unrec = _unrecognised(c, profile, rule, lang)[rows[fail]]
        tail = np.where(unrec != "", t["sep"] + t["unrecognised"] + unrec, "")
        detail[fail] = t["missing"] + missing_names + tail
    no_data = (v == "unknown") & ~known[rows]
    detail[no_data] = t["no_data"] + rule.attribute
    users = {key: [key in {**rule.when, **case.when} for case in rule.cases] for key in missing}
    matters = {
        key: (miss & (cases & users[key]).any(axis=1))[rows] for key, miss in missing.items()
    }
    deps = _join_attrs(len(rows), matters, t)
    depends = (v == "unknown") & ~no_data
    detail[depends] = t["depends"] + deps[depends]
    value = np.column_stack([r.value for r in results])[rows, pick]
    return {
        "pos": rows,
        "rule": np.full(len(rows), rule.id, dtype=object),
        "label": np.full(len(rows), rule.label(lang), dtype=object),
        "attribute": np.full(len(rows), rule.attribute, dtype=object),
        "kind": np.full(len(rows), rule.kind, dtype=object),
        "measured": _measured(c, profile, rule, results[0].value, lang)[rows],
        "threshold": np.array(options, dtype=object)[inverse],
        "value": np.where(known[rows], value, np.nan),
        "required": np.array([r.required for r in results])[pick],
        "verdict": v.astype(object),
        "detail": detail,
    }


def _join_attrs(n: int, masks: dict[str, np.ndarray], t: dict[str, str]) -> np.ndarray:
    """Per row, the attributes whose mask is set, joined and tagged "(no data)"."""
    out = np.full(n, "", dtype=object)
    for attr, mask in masks.items():
        out[mask] = np.where(out[mask] == "", "", out[mask] + t["list"]) + attr + t["no_data_tag"]
    return out


def _issue_text(r: dict[str, np.ndarray], lang: str) -> np.ndarray:
    """The user-facing sentence of each failed or unknown result ("" for a pass)."""
    t = _TEXT[lang]
    head = r["label"] + t["colon"]
    below = head + r["measured"] + t["comma"] + t["required"] + r["threshold"]
    failed = np.where(r["kind"] == "includes", head + r["detail"], below)
    unknown = head + t["unknown"] + t["comma"] + r["detail"]
    return np.where(
        r["verdict"] == "unknown", unknown, np.where(r["verdict"] == "fail", failed, "")
    )


def check_centers(
    centers: gpd.GeoDataFrame, profile: Profile | str | Path, *, lang: str = "en"
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Check every center against a standards profile.

    Parameters
    ----------
    centers
        Canonical centers layer (``id``, ``level`` and whichever of ``area_m2``,
        ``plaza_m2``, ``rooms``, ``windows``, ``zones``, ``built_year``,
        ``with_gov_center``, ``urban``, ``demo_area`` the profile uses).
    profile
        A :class:`Profile` or a name/path for :func:`load_profile`.
    lang
        ``"zh"`` or ``"en"``: language of labels, thresholds, details and issues.

    Returns
    -------
    checked, results
        ``checked`` is a copy of ``centers`` (same index) with ``compliant`` (nullable
        boolean: False if any rule fails, else NA if any is unknown, else True; True too when
        no rule applies) and ``compliance_issues`` (failed and unknown rules, in ``lang``).
        ``results`` has one row per center and applicable rule: ``center_id``, ``level``,
        ``rule``, ``label``, ``attribute``, ``measured``, ``threshold``, ``value``,
        ``required``, ``verdict`` (``pass``/``fail``/``unknown``), ``detail``, ``issue``.
        For ``includes`` rules ``value`` counts required items present; for ``count`` rules
        it counts distinct items. A missing attribute gives ``unknown``, never ``pass``.
    """
    if lang not in LANGS:
        raise PlannerError(f"lang must be one of {', '.join(LANGS)}, got {lang!r}")
    if not isinstance(profile, Profile):
        profile = load_profile(profile)
    c = _Centers(centers, profile.assume)
    parts = [_evaluate_rule(c, profile, rule, lang) for rule in profile.rules]
    order = np.argsort(np.concatenate([p["pos"] for p in parts]), kind="stable")
    r = {col: np.concatenate([p[col] for p in parts])[order] for col in parts[0]}
    r["issue"] = _issue_text(r, lang)
    pos = r.pop("pos")
    fail = np.bincount(pos[r["verdict"] == "fail"], minlength=c.n) > 0
    unknown = np.bincount(pos[r["verdict"] == "unknown"], minlength=c.n) > 0
    compliant = pd.array(~fail, dtype="boolean")
    compliant[unknown & ~fail] = pd.NA
    checked = centers.copy()
    checked["compliant"] = compliant
    problem = r["issue"] != ""
    issues = _join_by_pos(c.n, pos[problem], r["issue"][problem], _TEXT[lang]["sep"])
    checked["compliance_issues"] = pd.array(issues, dtype="string")
    del r["kind"]
    results = pd.DataFrame({"center_id": c.ids[pos], "level": c.levels[pos], **r})
    return checked, results


def summarize_compliance(
    results: pd.DataFrame,
    centers: pd.DataFrame,
    *,
    by: Sequence[str | Sequence[str]] = ("county_id", "township_id"),
) -> pd.DataFrame:
    """Count compliant, non-compliant and unknown centers per area (and in total).

    Parameters
    ----------
    results, centers
        Both outputs of :func:`check_centers` (``centers`` must have unique ``id``).
    by
        Grouping scopes, each a column name or a tuple of names (e.g. ``("county_id",
        "level")``); a ``total`` row is always appended. Missing keys group as ``(none)``.

    Returns
    -------
    pandas.DataFrame
        ``scope``, ``key``, ``centers``, ``compliant``, ``non_compliant``, ``unknown``,
        ``no_rule`` (no rule applies), ``compliance_rate`` (compliant / checked), and per
        rule ``fail_<rule>`` and ``unknown_<rule>`` counts of centers.
    """
    if "compliant" not in centers.columns:
        raise PlannerError("summarize_compliance needs the centers returned by check_centers")
    ids = centers["id"].astype("string")
    if ids.duplicated().any():
        raise PlannerError(f"centers: duplicate id {ids[ids.duplicated()].iloc[0]!r}")
    scopes = [(s,) if isinstance(s, str) else tuple(s) for s in by]
    if absent := sorted({col for s in scopes for col in s} - set(centers.columns)):
        raise PlannerError(f"centers: cannot summarise by missing column(s) {', '.join(absent)}")
    checked_ids = set(results["center_id"])
    compliant = centers["compliant"].astype("boolean")
    frame = pd.DataFrame(
        {"centers": 1, "no_rule": ~ids.isin(checked_ids).to_numpy()}, index=centers.index
    )
    frame["compliant"] = (compliant.fillna(False).to_numpy()) & ~frame["no_rule"]
    frame["non_compliant"] = (~compliant.fillna(True)).to_numpy()
    frame["unknown"] = compliant.isna().to_numpy()
    for verdict in ("fail", "unknown"):
        hits = results[results["verdict"] == verdict]
        for rule in pd.unique(results["rule"]):
            bad = set(hits.loc[hits["rule"] == rule, "center_id"])
            frame[f"{verdict}_{rule}"] = ids.isin(bad).to_numpy()
    counts = list(frame.columns)
    rows = []
    for scope in [*scopes, None]:
        if scope is None:
            grouped = frame.sum(numeric_only=False).to_frame().T.assign(scope="total", key="")
        else:
            keys = [centers[col].astype("string").fillna("(none)") for col in scope]
            grouped = frame.groupby(keys).sum().reset_index(drop=False)
            key = grouped[scope[0]].astype("string")
            for col in scope[1:]:
                key = key + "/" + grouped[col].astype("string")
            grouped = grouped[counts].assign(scope="+".join(scope), key=key.to_numpy())
        rows.append(grouped)
    out = pd.concat(rows, ignore_index=True)
    out[counts] = out[counts].astype("int64")
    checked = out["centers"] - out["no_rule"]
    out["compliance_rate"] = (out["compliant"] / checked.where(checked > 0)).astype(float)
    head = ["scope", "key", "centers", "compliant", "non_compliant", "unknown", "no_rule"]
    return out[head + ["compliance_rate"] + [c for c in counts if c not in head]]
