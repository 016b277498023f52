"""What each layer kind must and may carry: geometry type and canonical columns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """A canonical column: its name, value type and whether a layer must have it.

    ``dtype`` is one of ``code`` (an identifier kept as text, e.g. a 12-digit NBS code),
    ``text``, ``number`` (non-negative finite float), ``year``, ``bool`` or ``level``.
    ``maximum`` is the largest plausible value of a number (larger ones are refused as
    typing or unit errors); ``None`` when any finite value may occur.
    """

    name: str
    dtype: str
    required: bool = False
    maximum: float | None = None


@dataclass(frozen=True)
class LayerSchema:
    """Geometry family (``point``, ``polygon`` or ``line``) and columns of a layer kind."""

    kind: str
    geometry: str
    columns: tuple[Column, ...]
    unique_id: bool = True

    @property
    def names(self) -> tuple[str, ...]:
        """Canonical column names."""
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        """The column called ``name``."""
        return next(c for c in self.columns if c.name == name)


_ID = Column("id", "code", required=True)
_NAME = Column("name", "text")
#: More people or households than this in one village, grid or site is a typing error.
MAX_COUNT = 1e8
#: Floor and plaza areas above this (100 km²) are a unit or typing error.
MAX_AREA_M2 = 1e8
#: Built years outside this range are typing errors.
YEAR_RANGE = (1900, 2100)

SCHEMAS: dict[str, LayerSchema] = {
    s.kind: s
    for s in (
        LayerSchema(
            "centers",
            "point",
            (
                _ID,
                _NAME,
                Column("level", "level", required=True),
                Column("township_id", "code"),
                Column("county_id", "code"),
                Column("village_id", "code"),
                Column("area_m2", "number", maximum=MAX_AREA_M2),
                Column("plaza_m2", "number", maximum=MAX_AREA_M2),
                Column("rooms", "text"),
                Column("windows", "text"),
                Column("zones", "text"),
                Column("built_year", "year"),
                Column("with_gov_center", "bool"),
                Column("urban", "bool"),
                Column("demo_area", "bool"),
            ),
        ),
        LayerSchema(
            "villages",
            "point",
            (
                _ID,
                _NAME,
                Column("population", "number", required=True, maximum=MAX_COUNT),
                Column("households", "number", maximum=MAX_COUNT),
                Column("township_id", "code"),
                Column("urban", "bool"),
            ),
        ),
        LayerSchema("village_areas", "polygon", (_ID, _NAME)),
        LayerSchema(
            "townships",
            "polygon",
            (
                _ID,
                _NAME,
                Column("county_id", "code"),
                Column("county_name", "text"),
            ),
        ),
        LayerSchema("counties", "polygon", (_ID, _NAME)),
        LayerSchema("merged_townships", "point", (_ID, _NAME, Column("township_id", "code"))),
        LayerSchema("merged_township_areas", "polygon", (_ID, _NAME)),
        LayerSchema(
            "grids",
            "polygon",
            (
                Column("id", "code"),
                _NAME,
                Column("village_id", "code"),
                Column("households", "number", maximum=MAX_COUNT),
                Column("population", "number", maximum=MAX_COUNT),
                Column("workers", "number", maximum=MAX_COUNT),
            ),
            unique_id=False,
        ),
        LayerSchema(
            "roads",
            "line",
            (
                Column("highway", "text"),
                Column("maxspeed", "number"),
                Column("oneway", "bool"),
                _NAME,
            ),
            unique_id=False,
        ),
        LayerSchema(
            "candidates",
            "point",
            (
                _ID,
                _NAME,
                Column("kind", "text"),
                Column("capacity", "number", maximum=MAX_COUNT),
            ),
        ),
    )
}

#: Source column names recognised without a mapping (compared case-insensitively).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("code", "编码", "代码", "区划代码", "统一编码", "编号", "adcode"),
    "name": ("名称", "name_zh", "村名", "中心名称", "站点名称"),
    "level": ("级别", "层级", "等级"),
    "population": ("pop", "人口", "常住人口", "户籍人口", "人口数"),
    "households": ("hh", "户数", "总户数"),
    "township_id": ("乡镇编码", "乡镇代码", "town_code", "township_code"),
    "county_id": ("区县编码", "县编码", "county_code"),
    "county_name": ("区县名称", "县名称"),
    "village_id": ("村编码", "村代码", "village_code"),
    "urban": ("城乡", "城乡类型", "is_urban"),
    "area_m2": ("面积", "建筑面积", "area"),
    "plaza_m2": ("广场面积", "plaza"),
    "rooms": ("功能室", "房间"),
    "windows": ("窗口",),
    "built_year": ("建成年份", "建设年份", "year"),
    "highway": ("fclass", "道路等级", "type"),
    "maxspeed": ("限速",),
    "capacity": ("容量",),
    "workers": ("网格员", "网格员数"),
}

_TRUE = {"true", "t", "yes", "y", "1", "是", "城镇", "城市", "城", "社区", "urban", "有"}
_FALSE = {"false", "f", "no", "n", "0", "否", "农村", "乡村", "村", "乡", "嘎查", "rural", "无"}


def parse_bool(value: object) -> bool | None:
    """Read a yes/no cell (English, digits or Chinese); ``None`` when unrecognised."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text.endswith(".0"):
        text = text[:-2]
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None
