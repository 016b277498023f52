"""Names and attributes for the synthetic region generator (:mod:`planner.synth`).

Chinese place names are put together from syllables, vectorised with ``numpy.char``.
Center attributes follow per-level profiles whose medians sit above the usual standards
while their spread leaves a realistic share of non-compliant centers (an area below the
threshold, a missing room or window) and some empty cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import compress, product

import numpy as np
import pandas as pd
from numpy.typing import NDArray

StrArray = NDArray[np.str_]

_HAN_FIRST = np.array(
    list(
        "东西南北前后大小新老上下中红兴永长太平富宝金福庆丰德胜和安泰隆"
        "王李张刘陈杨赵孙周吴郭马高林何胡于白范韩曹冯董梁宋唐许邓萧崔"
    )
)
_HAN_SECOND = np.array(
    [
        "家",
        "屯",
        "堡",
        "营",
        "甸",
        "岗",
        "沟",
        "台",
        "河",
        "山",
        "泉",
        "林",
        "坨",
        "洼",
        "岭",
        "庄",
        "店",
        "窝堡",
        "井",
        "湖",
        "坝",
        "桥",
        "城",
        "围子",
        "窑",
        "场",
        "旺",
        "合",
        "兴",
        "发",
        "盛",
        "利",
        "和",
        "丰",
        "福",
        "隆",
        "德",
        "顺",
        "源",
    ]
)
_MONGOL = np.array(
    [
        "巴彦",
        "乌兰",
        "查干",
        "哈日",
        "呼和",
        "宝力",
        "额尔敦",
        "阿拉坦",
        "塔拉",
        "敖包",
        "浩特",
        "格日勒",
        "乌力吉",
        "图",
        "高勒",
        "诺尔",
        "胡硕",
        "希伯",
        "布日",
        "温都尔",
        "巴雅尔",
        "伊和",
        "白音",
        "满都拉",
        "那仁",
        "沙日",
        "吉日嘎朗",
        "哈达",
        "昂格",
        "阿木古",
        "朝鲁",
        "毛都",
        "舍伯",
        "花",
        "努图克",
        "西拉",
        "苏布日",
        "宝日",
        "道兰",
        "额很",
    ]
)
_URBAN = np.array(
    [
        "建设",
        "光明",
        "和平",
        "民主",
        "胜利",
        "新华",
        "团结",
        "康宁",
        "永安",
        "明仁",
        "育新",
        "西苑",
        "东城",
        "北园",
        "南湖",
        "站前",
        "铁南",
        "河西",
        "科尔沁",
        "红星",
        "新兴",
        "前进",
        "工农",
        "友谊",
        "文化",
        "体育",
        "清河",
        "铁东",
        "富民",
        "和谐",
        "幸福",
        "阳光",
        "滨河",
        "锦绣",
        "振兴",
        "永乐",
        "长青",
        "新城",
        "学府",
        "怡园",
    ]
)
_DIRECTION = np.array(["", "", "", "东", "西", "南", "北"])
_GRAND = np.array(list("开鲁安平通扎奈库兴宁辽源阜昌庆远恒泰嘉瑞丰"))


def han_stems(rng: np.random.Generator, n: int) -> StrArray:
    """Rural Han place-name stems such as 王家窝堡 or 前岗."""
    first = _HAN_FIRST[rng.integers(0, _HAN_FIRST.size, n)]
    middle = np.where(rng.random(n) < 0.3, "家", "")
    second = _HAN_SECOND[rng.integers(0, _HAN_SECOND.size, n)]
    return np.char.add(np.char.add(first, middle), second)


def mongol_stems(rng: np.random.Generator, n: int) -> StrArray:
    """Mongolian place-name stems such as 巴彦塔拉 (two transliterated words)."""
    first = rng.integers(0, _MONGOL.size, n)
    second = (first + rng.integers(1, _MONGOL.size, n)) % _MONGOL.size  # never the same word
    return np.char.add(_MONGOL[first], _MONGOL[second])


def urban_stems(rng: np.random.Generator, n: int) -> StrArray:
    """Urban community stems such as 东光明."""
    direction = _DIRECTION[rng.integers(0, _DIRECTION.size, n)]
    return np.char.add(direction, _URBAN[rng.integers(0, _URBAN.size, n)])


def grand_stems(rng: np.random.Generator, n: int) -> StrArray:
    """Two-character stems for counties and the city, such as 开鲁."""
    first = rng.integers(0, _GRAND.size, n)
    second = (first + rng.integers(1, _GRAND.size, n)) % _GRAND.size
    return np.char.add(_GRAND[first], _GRAND[second])


def street_names(rng: np.random.Generator, n: int) -> StrArray:
    """Urban street names such as 新华路."""
    kind = np.array(["路", "街", "大街", "巷"])[rng.integers(0, 4, n)]
    return np.char.add(_URBAN[rng.integers(0, _URBAN.size, n)], kind)


def join_items(
    rng: np.random.Generator, items: tuple[str, ...], n: int, *, keep: float, missing: float
) -> NDArray[np.object_]:
    """Per row, the ``items`` that are present, joined by ``;`` (``None`` when missing).

    Every item is kept with probability ``keep``; a share ``missing`` of rows has no
    value at all. All 2**len(items) joined strings are built once and indexed.
    """
    k = len(items)
    table = np.array(
        [";".join(compress(items, bits[::-1])) or None for bits in product((0, 1), repeat=k)],
        dtype=object,
    )
    mask = (rng.random((n, k)) < keep) @ (1 << np.arange(k))
    out = table[mask]
    out[rng.random(n) < missing] = None
    return out


@dataclass(frozen=True)
class Profile:
    """How the centers of one level look: medians, spreads and the room lists."""

    area: float
    plaza: float | None
    rooms: tuple[str, ...]
    windows: tuple[str, ...]
    zones: tuple[str, ...]
    gov_share: float = 0.0
    demo_share: float = 0.0


_HALL_ROOMS = (
    "党群服务大厅",
    "党员活动室",
    "综治办公室",
    "文体活动室",
    "图书室",
    "多功能会议室",
    "警务调解室",
    "卫生室",
)
_TOWN_ROOMS = (
    "党群服务大厅",
    "党员活动室",
    "综治中心",
    "文体活动室",
    "图书室",
    "多功能会议室",
    "调解室",
    "代表工作室",
)
_COUNTY_ROOMS = (
    "政务服务大厅",
    "党员活动室",
    "综治中心",
    "多功能会议室",
    "图书阅览室",
    "文体活动室",
    "展示厅",
    "代表工作室",
)
_ZONES_5 = ("日常办公区", "综合服务区", "活动区", "教育区", "休息等候区")
_ZONES_6 = (*_ZONES_5, "共建共治区")
# The hall's windows as Tongliao lists them (seed 003): party-member service, business,
# help-and-agency, consultation-and-complaint.
_WINDOWS_4 = ("党员服务窗口", "综合业务窗口", "帮办代办窗口", "咨询投诉窗口")
_WINDOWS_2 = ("综合服务窗口", "帮办代办窗口")

PROFILES: dict[str, Profile] = {
    "city": Profile(9000.0, 3000.0, _COUNTY_ROOMS, (*_WINDOWS_4, "企业服务窗口"), _ZONES_5),
    "county": Profile(3500.0, 2000.0, _COUNTY_ROOMS, (*_WINDOWS_4, "企业服务窗口"), _ZONES_5, 0.4),
    "township": Profile(1500.0, 1500.0, _TOWN_ROOMS, _WINDOWS_4, _ZONES_6, 0.3),
    "subcenter": Profile(600.0, 1000.0, _TOWN_ROOMS[:6], _WINDOWS_2, _ZONES_6),
    "community": Profile(900.0, 800.0, _HALL_ROOMS, _WINDOWS_2, _ZONES_6),
    "village": Profile(400.0, 1600.0, _HALL_ROOMS, _WINDOWS_4, _ZONES_6, 0.0, 0.08),
    "station": Profile(120.0, None, ("休息区", "充电区", "饮水点", "图书角"), (), ()),
}
_SIGMA = 0.45  # log-normal spread of areas: about 15 % of townships fall below 1,000 m²


def center_attributes(
    rng: np.random.Generator, profile_name: str, n: int
) -> dict[str, NDArray | pd.api.extensions.ExtensionArray]:
    """Attribute columns for ``n`` centers of one profile (see :data:`PROFILES`)."""
    p = PROFILES[profile_name]
    gov = rng.random(n) < p.gov_share
    area = p.area * np.exp(rng.normal(0.0, _SIGMA, n)) * np.where(gov, 1.8, 1.0)
    area[rng.random(n) < 0.04] = np.nan
    plaza = np.full(n, np.nan)
    if p.plaza is not None:
        plaza = p.plaza * np.exp(rng.normal(0.0, 0.5, n))
        plaza[rng.random(n) < 0.10] = np.nan
    year = 2024 - np.minimum(np.floor(rng.exponential(6.0, n)), 19).astype(np.int64)
    return {
        "area_m2": np.round(area),
        "plaza_m2": np.round(plaza),
        "rooms": join_items(rng, p.rooms, n, keep=0.97, missing=0.03),
        "windows": join_items(rng, p.windows, n, keep=0.96, missing=0.05),
        "zones": join_items(rng, p.zones, n, keep=0.92, missing=0.08),
        "built_year": _years(rng, year),
        "with_gov_center": gov,
        "demo_area": rng.random(n) < p.demo_share,
    }


def _years(rng: np.random.Generator, year: NDArray[np.int64]) -> pd.api.extensions.ExtensionArray:
    """Years as a nullable integer array with about 5 % left empty."""
    out = pd.array(year, dtype="Int64")
    out[rng.random(year.size) < 0.05] = pd.NA
    return out


def numbered(prefix: str, number: NDArray[np.int64], width: int) -> NDArray[np.str_]:
    """``prefix`` followed by each number zero-padded to ``width`` digits."""
    digits = number.astype(str)
    if digits.size:
        digits = np.char.zfill(digits, width)
    return np.char.add(prefix, digits)
