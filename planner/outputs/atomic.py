"""Atomic file replacement, which every output writer goes through.

A writer first writes into a private temporary directory created next to the target
(same filesystem, same file name, so drivers pick the format and the layer name from
it) and only then moves the result over the target with :func:`os.replace`. A failure
while writing leaves any previous file untouched and no temporary file behind.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from planner.errors import PlannerError

__all__ = ["SHAPEFILE_PARTS", "atomic_path", "render_png", "write_bytes", "write_png"]

#: Sidecar files of a Shapefile that a new write must not leave stale.
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".fields.csv")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write to; move it over ``path`` on success.

    The temporary path has the same file name as ``path`` and lives in a fresh hidden
    directory beside it (same filesystem, so the final :func:`os.replace` is atomic).
    Every file the writer creates in that directory is moved next to ``path``: a
    multi-file format (Shapefile) may be written to the yielded ``.shp`` path and its
    sidecar files follow. For a ``.shp`` target, stale sidecars of an older Shapefile
    (such as a spatial index ``.qix``) are removed.

    Parameters
    ----------
    path
        The final file path. Its directory must exist.

    Yields
    ------
    Path
        Where to write.

    Raises
    ------
    PlannerError
        When the directory of ``path`` does not exist.
    """
    target = Path(path)
    if not target.parent.is_dir():
        raise PlannerError(f"cannot write {target}: folder {target.parent} does not exist")
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp_dir / target.name
        _move_into_place(tmp_dir, target)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def _move_into_place(tmp_dir: Path, target: Path) -> None:
    """Move every file of ``tmp_dir`` beside ``target``; all or nothing on failure."""
    produced = sorted(p for p in tmp_dir.iterdir() if p.is_file())
    if not produced:
        raise PlannerError(f"writing {target} produced no file")
    if len(produced) == 1 and target.suffix.lower() != ".shp":
        os.replace(produced[0], target.parent / produced[0].name)
        return
    backup = tmp_dir / ".old"
    backup.mkdir()
    stale = _stale_parts(target, {p.name for p in produced})
    # The main file moves last, so a reader never sees a new .shp with old sidecars.
    produced.sort(key=lambda p: p.name == target.name)
    _replace_all(produced, stale, target.parent, backup)


def _stale_parts(target: Path, new_names: set[str]) -> list[Path]:
    """Sidecars an older Shapefile at ``target`` may have that the new one does not."""
    if target.suffix.lower() != ".shp":
        return []
    return [
        target.with_name(target.stem + part)
        for part in SHAPEFILE_PARTS
        if target.stem + part not in new_names
    ]


def _replace_all(produced: list[Path], stale: list[Path], folder: Path, backup: Path) -> None:
    """Move ``produced`` into ``folder`` and remove ``stale``, keeping a copy of every file
    replaced or removed in ``backup``; on any failure put those copies back."""
    saved: list[Path] = []
    placed: list[Path] = []
    try:
        for old in [folder / p.name for p in produced] + stale:
            if old.exists():
                _link_or_copy(old, backup / old.name)
                saved.append(old)
        for old in stale:
            if old.exists():
                old.unlink()
        for new in produced:
            os.replace(new, folder / new.name)
            placed.append(folder / new.name)
    except BaseException:
        for dest in placed:
            dest.unlink(missing_ok=True)
        for old in saved:
            os.replace(backup / old.name, old)
        raise


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def write_png(path: str | os.PathLike[str], fig: Any, *, dpi: int = 150) -> Path:
    """Save a matplotlib figure as PNG, atomically.

    A figure without a layout engine is cropped to its content (``bbox_inches="tight"``);
    one with a layout engine (constrained or tight layout) already fits its content and
    is saved as laid out (:func:`_save_laid_out`).
    """
    target = Path(path)
    with atomic_path(target) as tmp:
        _save(fig, tmp, dpi=dpi)
    return target


def render_png(fig: Any, *, dpi: int = 150) -> bytes:
    """The PNG bytes :func:`write_png` writes for ``fig``."""
    buffer = io.BytesIO()
    _save(fig, buffer, dpi=dpi)
    return buffer.getvalue()


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path``, atomically."""
    target = Path(path)
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return target


def _save(fig: Any, dest: Path | io.BytesIO, *, dpi: int) -> None:
    if fig.get_layout_engine() is None:
        fig.savefig(dest, format="png", dpi=dpi, bbox_inches="tight")
    else:
        _save_laid_out(fig, dest, dpi=dpi)


def _save_laid_out(fig: Any, path: Path | io.BytesIO, *, dpi: int) -> None:
    """Save a figure with a layout engine: the layout runs once at ``dpi`` and the figure
    is drawn once (``savefig`` would draw it twice, the first time only to lay it out),
    giving the same pixels; the figure keeps its dpi and layout engine."""
    engine, old_dpi = fig.get_layout_engine(), fig.get_dpi()
    try:
        fig.set_dpi(dpi)
        engine.execute(fig)
        fig.set_layout_engine("none")
        fig.savefig(path, format="png", dpi=dpi)
    finally:
        fig.set_layout_engine(engine)
        fig.set_dpi(old_dpi)
