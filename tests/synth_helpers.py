"""The small synthetic region shared by the synth tests."""

from __future__ import annotations

from planner.synth import Region, generate_region


def small_region() -> Region:
    """A small region in the metric CRS it is built in."""
    return generate_region(villages=600, townships=30, counties=3, seed=7, crs=None)
