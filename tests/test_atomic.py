"""Tests of planner.outputs.atomic: replacing a file only when it is fully written."""

from __future__ import annotations

import pytest

from planner.errors import PlannerError
from planner.outputs.atomic import atomic_path, write_png


def test_atomic_path_success_and_failure(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with atomic_path(target) as tmp:
        assert tmp.name == "a.txt" and tmp.parent.parent == tmp_path and tmp != target
        tmp.write_text("new")
        assert target.read_text() == "old"
    assert target.read_text() == "new"
    with pytest.raises(KeyError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise KeyError("x")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_atomic_path_missing_folder(tmp_path):
    with pytest.raises(PlannerError, match="does not exist"), atomic_path(tmp_path / "no" / "a"):
        pass


def test_write_png(tmp_path):
    from matplotlib.figure import Figure

    fig = Figure()
    fig.add_subplot().plot([0, 1], [0, 1])
    path = write_png(tmp_path / "p.png", fig)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["p.png"]


def test_write_png_crops_only_figures_without_a_layout(tmp_path):
    from matplotlib.figure import Figure
    from PIL import Image

    sizes = {}
    for layout in (None, "constrained"):
        fig = Figure(figsize=(4, 3), layout=layout)
        fig.add_subplot().plot([0, 1], [0, 1])
        path = write_png(tmp_path / f"{layout}.png", fig, dpi=50)
        with Image.open(path) as image:
            sizes[layout] = image.size
    assert sizes["constrained"] == (200, 150)  # laid out: saved whole
    assert sizes[None] != (200, 150)  # cropped to the drawing


def _bar_figure():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 3), layout="constrained")
    for i, ax in enumerate(fig.subplots(1, 2)):
        ax.barh(range(5), [3, 1, 4, 1, 5])
        ax.set_yticks(range(5), labels=[f"a long tick label {k}" for k in range(5)])
        ax.set_title(f"panel {i}")
    fig.suptitle("title")
    return fig


def test_write_png_draws_the_same_pixels_as_savefig(tmp_path):
    """A figure with constrained layout: the same PNG as ``savefig`` writes of the same
    figure, and the figure keeps its dpi and layout engine."""
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    expected = tmp_path / "savefig.png"
    _bar_figure().savefig(expected, format="png", dpi=150)
    fig = _bar_figure()
    written = write_png(tmp_path / "ours.png", fig)
    assert written.read_bytes() == expected.read_bytes()
    assert isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine)
    assert fig.get_dpi() == 100
