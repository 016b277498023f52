"""Outputs of a plan: files, the offline map, the report, plots and comparisons."""
