"""The levels of the service-center network and their Chinese aliases."""

from __future__ import annotations

from planner.errors import PlannerError

#: Levels from the top of the network down. ``subcenter`` sits at the former seat of a
#: merged township and gives township-level service; ``station`` is a small branch station
#: that extends village/community service.
LEVELS: tuple[str, ...] = ("city", "county", "township", "subcenter", "village", "station")

_ALIASES: dict[str, str] = {
    "市": "city",
    "市级": "city",
    "盟": "city",
    "地级市": "city",
    "县": "county",
    "县级": "county",
    "旗": "county",
    "县级市": "county",
    "区": "county",
    "市辖区": "county",
    "区县": "county",
    "乡": "township",
    "镇": "township",
    "乡镇": "township",
    "乡镇级": "township",
    "街道": "township",
    "苏木": "township",
    "乡镇街道": "township",
    "town": "township",
    "分中心": "subcenter",
    "乡镇分中心": "subcenter",
    "sub-center": "subcenter",
    "sub_center": "subcenter",
    "村": "village",
    "社区": "village",
    "嘎查": "village",
    "村级": "village",
    "村社区": "village",
    "村（社区）": "village",
    "村(社区)": "village",
    "community": "village",
    "驿站": "station",
    "服务站": "station",
    "便民服务站": "station",
    "代办点": "station",
    "站": "station",
}


def normalize_level(value: object) -> str:
    """Return the canonical level name for ``value`` (English or a Chinese alias).

    Raises
    ------
    PlannerError
        When the value names no known level.
    """
    text = str(value).strip()
    key = text.lower()
    if key in LEVELS:
        return key
    if text in _ALIASES:
        return _ALIASES[text]
    if key in _ALIASES:
        return _ALIASES[key]
    raise PlannerError(
        f"unknown level {text!r}; expected one of {', '.join(LEVELS)} "
        "or a Chinese alias such as 县级, 乡镇, 街道, 村, 社区, 分中心, 驿站"
    )


def try_normalize_level(value: object) -> str | None:
    """Like :func:`normalize_level` but return ``None`` for unknown values."""
    try:
        return normalize_level(value)
    except PlannerError:
        return None
