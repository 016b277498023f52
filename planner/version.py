"""The planner's version, recorded in every summary, marker and report."""

__version__ = "0.1.0"
