"""Compliance checks of service centers against a standards profile (vectorised).

Profiles, their format and their loader are in :mod:`planner.standards.profiles`; the
center attributes are read by :mod:`planner.standards.attributes`, and the results are
counted per area by :mod:`planner.standards.summary`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from planner.errors import PlannerError
from planner.levels import LEVELS
from planner.standards.attributes import Centers, Items
from planner.standards.profiles import LANGS, Case, Profile, Rule, load_profile

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
    c: Centers, when: dict[str, object], fill: dict[str, float], idx: np.ndarray
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


def _missing(c: Centers, key: str, flag: bool) -> np.ndarray:
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


def _deciders(c: Centers, rule: Rule) -> tuple[np.ndarray, dict[str, np.ndarray]]:
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


def _evaluate_case(c: Centers, profile: Profile, rule: Rule, case: Case, lang: str) -> _CaseResult:
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


def _listed(c: Centers, profile: Profile, rule: Rule) -> Items:
    terms = list(profile.vocabulary.get(rule.attribute, {}))
    return c.items(rule.attribute, profile.aliases(rule.attribute), terms)


def _includes_case(
    c: Centers, profile: Profile, rule: Rule, require: tuple[str, ...], lang: str
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


def _unrecognised(c: Centers, profile: Profile, rule: Rule, lang: str) -> np.ndarray:
    """Per row, the listed names that match no term of the rule's attribute."""
    items = _listed(c, profile, rule)
    other = items.term < 0
    return _join_by_pos(c.n, items.pos[other], items.text[other], _TEXT[lang]["list"])


def _measured(c: Centers, profile: Profile, rule: Rule, value: np.ndarray, lang: str) -> np.ndarray:
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


def _evaluate_rule(c: Centers, profile: Profile, rule: Rule, lang: str) -> dict[str, np.ndarray]:
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
    c = Centers(centers, profile.assume)
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
