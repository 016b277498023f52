"""Read, normalise and validate the input layers of a scenario.

Every layer is read in its own format (:mod:`planner.layers.readers`), its columns are renamed
to the canonical names of its kind and typed (:mod:`planner.layers.columns`), its coordinates
are brought to WGS84 (GCJ-02/BD-09 offsets removed, Gauss-Krüger zones detected) and its
geometries checked (:mod:`planner.layers.geometry`). The layers are then checked against
each other (:mod:`planner.layers.cross_checks`), brought to the working metric CRS and their
township and county codes completed (:mod:`planner.layers.units`). All problems are collected
first and raised once, as one table.

The package reads each format (:mod:`~planner.layers.readers`, with
:mod:`~planner.layers.ledgers` and :mod:`~planner.layers.workbooks` for CSV and Excel
ledgers), renames and types columns (:mod:`~planner.layers.columns`), checks coordinates
and geometries (:mod:`~planner.layers.geometry`) and the layers against each other
(:mod:`~planner.layers.cross_checks`), completes township and county codes
(:mod:`~planner.layers.units`) and gathers every problem
(:mod:`~planner.layers.problems`); :mod:`~planner.layers.load` ties them together.
"""

from __future__ import annotations

from planner.layers.load import LayerSet, collect_layers, load_layers, read_layer

__all__ = ["LayerSet", "collect_layers", "load_layers", "read_layer"]
