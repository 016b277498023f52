"""Writers for every output file, all atomic: one import for the writers of
:mod:`planner.outputs.atomic` (the atomic replacement and PNG figures),
:mod:`planner.outputs.vector` (GeoPackage, GeoJSON, Shapefile, KML, FlatGeobuf,
GeoParquet), :mod:`planner.outputs.tables` (CSV, JSON, the spreadsheet formula guard) and
:mod:`planner.outputs.xlsx` (Excel workbooks).
"""

from __future__ import annotations

from planner.outputs.atomic import atomic_path, write_png
from planner.outputs.tables import (
    FORMULA_STARTS,
    defuse_formula,
    defuse_formulas,
    write_csv,
    write_json,
)
from planner.outputs.vector import (
    FORMATS,
    VectorFormat,
    shapefile_field_names,
    write_gpkg,
    write_vector,
)
from planner.outputs.xlsx import write_xlsx

__all__ = [
    "FORMATS",
    "FORMULA_STARTS",
    "VectorFormat",
    "atomic_path",
    "defuse_formula",
    "defuse_formulas",
    "shapefile_field_names",
    "write_csv",
    "write_gpkg",
    "write_json",
    "write_png",
    "write_vector",
    "write_xlsx",
]
