"""Governance grids: generating, numbering and checking grid boundaries."""
