"""Synthetic regions for the demo, the tests and the benchmarks.

:func:`generate_region` builds a deterministic region (:mod:`planner.synth.region`);
:func:`write_region` writes its layers and a ready ``scenario.toml``
(:mod:`planner.synth.write`).
"""

from planner.synth.region import SYNTH_CRS, Region, generate_region, write_region
from planner.synth.write import DEMO_FORMATS, KINDS, ZH_HEADERS

__all__ = [
    "DEMO_FORMATS",
    "KINDS",
    "SYNTH_CRS",
    "ZH_HEADERS",
    "Region",
    "generate_region",
    "write_region",
]
