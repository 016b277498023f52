"""Standards compliance of service centers, with city standards kept as data.

Built-in profiles (``planner/standards/<name>.toml``, see :func:`available_profiles`):
``yantai`` (floor area by level, functional zones, service windows), ``benxi`` (village
"one plaza, five rooms, one station", community "one station, six rooms"), ``tongliao``
("one hall, five rooms" and the hall's windows), ``yueyang`` ("seven rooms, one hall, one
plaza") and ``generic`` (the lowest thresholds among those). A scenario picks one with
``[standards] profile = "yantai"`` or supplies its own with ``[standards] file = "..."``.

Profile format (TOML)::

    [profile]
    name = "mycity"
    title_zh = "..."
    title_en = "..."
    source = "where the figures come from"

    [assume]                            # optional: values used where an attribute
    demo_area = false                   # is not recorded (column absent or blank)

    [adequacy]                          # optional: floor area (m²) per 1,000 residents
    m2_per_1000 = { village = 100 }     # served, per center level (planner.adequacy)

    [vocabulary.rooms.library]          # one table per attribute and term key
    zh = "图书室"
    en = "library"
    aliases = ["图书阅览室", "reading room"]

    [[rules]]
    id = "area"                         # unique; results and summaries use it
    kind = "number"                     # "number" | "includes" | "count"
    attribute = "area_m2"               # a column of the centers layer
    unit = "m²"
    label_zh = "建筑面积"
    label_en = "floor area"
    when = { level = "village" }        # optional, merged into every case

    [[rules.cases]]                     # the first case whose `when` holds decides
    when = { urban = true, built_year = { lt = 2015 } }
    min = 300                           # number: min (>=) or above (>); count: min
    note_en = "built before 2015"       # optional, shown next to the threshold

    [[rules.cases]]
    when = { urban = true }
    min = 600

An ``includes`` rule gives ``require = ["term", ...]`` per case (every term must be listed
in the attribute); a ``count`` rule counts distinct listed items (recognised or not) except
the terms in its ``exclude`` list. Conditions: ``level`` (a canonical level or Chinese alias,
or a list), a yes/no attribute (``urban = true``), or a number attribute compared with
``lt``/``le``/``gt``/``ge``/``eq``. Rooms, zones and windows are read from text columns
whose items are separated by ``;`` ``,`` or ``、`` (full-width too) and matched to terms by
key, ``zh``, ``en`` or alias, ignoring case, spaces and punctuation (:func:`normalize_name`).

Three-valued logic: a missing measured value gives ``unknown`` (never ``pass``). When a
condition that picks the threshold is missing, every way of filling the missing condition
attributes is tried; the verdict is definite only if all agree (a county center of 1,800 m²
fails whether or not it was built with the government service center; a case that may not
apply at all is compatible with a pass, not with a fail). A center no rule applies to is
``compliant`` (nothing to violate) and is counted as ``no_rule`` in summaries.
``无``/``none`` records an explicitly empty list; a blank cell is missing.

Public API
----------
- :func:`load_profile` ``(name_or_path, *, base_dir=None) -> Profile``
- :func:`available_profiles` ``() -> tuple[str, ...]``
- :func:`check_centers` ``(centers, profile, *, lang="en") -> (GeoDataFrame, DataFrame)``
- :func:`summarize_compliance` ``(results, centers, *, by=("county_id", "township_id"))``
- :func:`normalize_name` ``(text) -> str``

This module holds the pydantic models that validate profiles and the loader;
:mod:`planner.standards.checks` evaluates them.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic import model_validator as _model_validator

from planner.errors import PlannerError
from planner.levels import normalize_level

PROFILE_DIR = Path(__file__).resolve().parent
VERDICTS: tuple[str, ...] = ("pass", "fail", "unknown")
LANGS: tuple[str, ...] = ("zh", "en")
COMPARISONS: tuple[str, ...] = ("lt", "le", "gt", "ge", "eq")


def normalize_name(text: str) -> str:
    """Return the matching key of a room, zone or window name.

    NFKC-folds (full-width to half-width), case-folds, and drops punctuation, spaces and
    control characters, so ``"Party-member room"`` and ``"party member room"`` match, and so
    do ``“两代表一委员”工作室`` and ``两代表一委员工作室``.
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] not in "PZC")


# --------------------------------------------------------------------------------------
# Profile models
# --------------------------------------------------------------------------------------
class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_when(when: dict[str, object]) -> dict[str, object]:
    """Validate a ``when`` table; level names become canonical tuples."""
    out: dict[str, object] = {}
    for key, cond in when.items():
        if key == "level":
            values = [cond] if isinstance(cond, str) else cond
            if not isinstance(values, list) or not values:
                raise ValueError(f"'level' must be a level name or a list of them, got {cond!r}")
            out[key] = tuple(normalize_level(v) for v in values)
        elif isinstance(cond, bool):
            out[key] = cond
        elif isinstance(cond, dict) and cond and set(cond) <= set(COMPARISONS):
            bad = {
                k: v
                for k, v in cond.items()
                if isinstance(v, bool) or not isinstance(v, int | float)
            }
            if bad:
                raise ValueError(
                    f"condition on {key!r}: comparison values must be numbers, got {bad}"
                )
            out[key] = {k: float(v) for k, v in cond.items()}
        else:
            raise ValueError(
                f"condition on {key!r} must be true/false or a comparison table using "
                f"{', '.join(COMPARISONS)} (e.g. {{ lt = 2015 }}), got {cond!r}"
            )
    return out


class Term(_Model):
    """One room, zone or window kind: display names and the aliases it may go by."""

    zh: str
    en: str
    aliases: tuple[str, ...] = ()


class Case(_Model):
    """One threshold of a rule and the condition (``when``) under which it applies."""

    when: dict[str, object] = Field(default_factory=dict)
    min: float | None = None
    above: float | None = None
    require: tuple[str, ...] | None = Field(default=None, min_length=1)
    note_zh: str = ""
    note_en: str = ""

    _when = field_validator("when")(_check_when)


class Rule(_Model):
    """A check on one attribute; its first case whose ``when`` holds decides."""

    id: str = Field(min_length=1)
    kind: Literal["number", "includes", "count"]
    attribute: str = Field(min_length=1)
    label_zh: str
    label_en: str
    unit: str = ""
    when: dict[str, object] = Field(default_factory=dict)
    exclude: tuple[str, ...] = ()
    cases: tuple[Case, ...] = Field(min_length=1)

    _when = field_validator("when")(_check_when)

    @_model_validator(mode="after")
    def _thresholds(self) -> Rule:
        allowed = {"number": ("min", "above"), "count": ("min",), "includes": ("require",)}
        for i, case in enumerate(self.cases):
            given = [k for k in ("min", "above", "require") if getattr(case, k) is not None]
            if len(given) != 1 or given[0] not in allowed[self.kind]:
                raise ValueError(
                    f"cases[{i}]: a {self.kind!r} rule needs exactly one of "
                    f"{' / '.join(allowed[self.kind])}, got {' and '.join(given) or 'none'}"
                )
        return self

    def label(self, lang: str) -> str:
        """Display label in ``lang`` (``"zh"`` or ``"en"``)."""
        return self.label_zh if lang == "zh" else self.label_en


class ProfileInfo(_Model):
    """The ``[profile]`` table."""

    name: str = Field(min_length=1)
    title_zh: str
    title_en: str
    source: str = ""


class AdequacyRates(_Model):
    """The ``[adequacy]`` table: floor area (m²) per 1,000 residents served, per center
    level (:mod:`planner.adequacy`)."""

    m2_per_1000: dict[str, float] = Field(default_factory=dict)

    @field_validator("m2_per_1000", mode="before")
    @classmethod
    def _levels(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value
        bad = {k: v for k, v in value.items() if isinstance(v, bool) or not isinstance(
            v, int | float) or not 0 <= v < float("inf")}  # fmt: skip
        if bad:
            raise ValueError(f"m2_per_1000 values must be numbers >= 0, got {bad}")
        return {normalize_level(k): float(v) for k, v in value.items()}


class Profile(_Model):
    """A standards profile: vocabulary of room/zone/window names and the rules."""

    profile: ProfileInfo
    assume: dict[str, bool | float] = Field(default_factory=dict)
    adequacy: AdequacyRates = AdequacyRates()
    vocabulary: dict[str, dict[str, Term]] = Field(default_factory=dict)
    rules: tuple[Rule, ...] = Field(min_length=1)

    @_model_validator(mode="after")
    def _consistent(self) -> Profile:
        ids = [r.id for r in self.rules]
        if dup := sorted({i for i in ids if ids.count(i) > 1}):
            raise ValueError(f"rule ids must be unique, repeated: {', '.join(dup)}")
        _ = self.alias_maps  # raises on conflicting aliases
        for i, rule in enumerate(self.rules):
            terms = self.vocabulary.get(rule.attribute, {})
            named = [*rule.exclude, *(k for c in rule.cases for k in (c.require or ()))]
            if unknown := sorted(set(named) - set(terms)):
                raise ValueError(
                    f"rules[{i}] ({rule.id}): {', '.join(unknown)} not defined under "
                    f"[vocabulary.{rule.attribute}]"
                )
        return self

    @property
    def name(self) -> str:
        """The profile's name."""
        return self.profile.name

    def title(self, lang: str) -> str:
        """The profile's title in ``lang``."""
        return self.profile.title_zh if lang == "zh" else self.profile.title_en

    @cached_property
    def alias_maps(self) -> dict[str, dict[str, str]]:
        """Per list attribute, :func:`normalize_name` keys → term keys."""
        maps: dict[str, dict[str, str]] = {}
        for attribute, terms in self.vocabulary.items():
            out = maps[attribute] = {}
            for key, term in terms.items():
                for alias in (key, term.zh, term.en, *term.aliases):
                    norm = normalize_name(alias)
                    if (other := out.setdefault(norm, key)) != key:
                        raise ValueError(
                            f"vocabulary.{attribute}: {alias!r} names both {other!r} and {key!r}"
                        )
        return maps

    def aliases(self, attribute: str) -> dict[str, str]:
        """Map :func:`normalize_name` keys to term keys for one list attribute."""
        return self.alias_maps.get(attribute, {})

    def term_label(self, attribute: str, key: str, lang: str) -> str:
        """Display name of a vocabulary term."""
        term = self.vocabulary[attribute][key]
        return term.zh if lang == "zh" else term.en


def available_profiles() -> tuple[str, ...]:
    """Names of the built-in profiles (``planner/standards/*.toml``)."""
    return tuple(sorted(p.stem for p in PROFILE_DIR.glob("*.toml")))


def load_profile(name_or_path: str | Path, *, base_dir: str | Path | None = None) -> Profile:
    """Load a built-in profile by name or a profile TOML file by path.

    Parameters
    ----------
    name_or_path
        A built-in name (``"yantai"``, ``"benxi"``, ``"tongliao"``, ``"yueyang"``,
        ``"generic"``) or a path (a :class:`~pathlib.Path`, or text ending in ``.toml`` or
        containing a path separator).
    base_dir
        Folder that relative paths are resolved against (the scenario file's folder).

    Raises
    ------
    PlannerError
        Unknown name, unreadable file, bad TOML, or a profile that breaks the format; the
        message names the file and the offending key (e.g. ``rules[2].cases[0].min``).
    """
    path = _profile_path(name_or_path, base_dir)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PlannerError(f"cannot read standards profile {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise PlannerError(f"{path}: standards profile must be UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise PlannerError(f"{path}: not valid TOML: {exc}") from None
    try:
        return Profile.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{path}: bad standards profile:"]
        for err in exc.errors():
            key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            key = key.lstrip(".")
            lines.append(f"  key {key}: {msg}" if key else f"  {msg}")
        raise PlannerError("\n".join(lines)) from None


def _profile_path(name_or_path: str | Path, base_dir: str | Path | None) -> Path:
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.endswith(".toml") or re.search(r"[/\\]", text):
        path = Path(text).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        if not path.is_file():
            raise PlannerError(f"standards profile file not found: {path}")
        return path
    name = text.strip().lower()
    if name not in available_profiles():
        raise PlannerError(
            f"unknown standards profile {text!r}; built-in profiles: "
            f"{', '.join(available_profiles())} (or give the path of a profile .toml file)"
        )
    return PROFILE_DIR / f"{name}.toml"


__all__ = [
    "COMPARISONS",
    "LANGS",
    "PROFILE_DIR",
    "VERDICTS",
    "AdequacyRates",
    "Case",
    "Profile",
    "ProfileInfo",
    "Rule",
    "Term",
    "available_profiles",
    "load_profile",
    "normalize_name",
]
