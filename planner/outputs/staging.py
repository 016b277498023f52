"""The output folder holds one run's result, always.

Every command that writes outputs (``planner run``, ``grids``, ``inspect``, ``compare``)
writes them inside :func:`staged_output`, which

1. takes an OS lock on ``.<name>.lock`` beside the output folder ``<name>``
   (:func:`~planner.outputs.locking.output_lock`): a second run into the same folder is
   refused; the lock dies with its process, so a killed run never blocks the next one;
2. cleans what dead runs left (:func:`clean_leftovers`): staging and ``.old`` folders
   beside the output folder, ``*.tmp`` folders of the atomic writers inside it, and puts
   the previous result back if a run died in the middle of the swap;
3. refuses to replace a folder holding files the planner did not write: each result
   carries a marker, :data:`MARKER`, listing its files and the command that wrote each;
4. lets the writers write into a fresh staging folder ``.<name>.staging-<pid>-<random>``
   beside the output folder (same filesystem). It starts with the previous result's files
   that the command does not write itself: ``planner grids`` keeps what ``planner run``
   wrote but its grid files, ``planner run`` keeps the files of ``inspect`` and
   ``compare``; every command drops the files it wrote last time;
5. only when every file is written, replaces the output folder by the staging folder: in
   one atomic exchange on Linux (``renameat2(RENAME_EXCHANGE)``), elsewhere by two
   renames (old result → ``.<name>.old-…``, staging → ``<name>``) that the next run
   repairs if the process died between them; then deletes the previous result.

A failure while writing (a full disk, no permission, a read-only folder, a GDAL write
error) or an interruption (Ctrl-C) removes the staging folder and keeps the previous
result; failures to write become a :class:`~planner.errors.PlannerError` naming the
folder and the reason.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import errno
import fnmatch
import json
import logging
import os
import re
import secrets
import shutil
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from planner.errors import PlannerError
from planner.outputs.locking import output_lock, resolve_folder, write_errors
from planner.version import __version__

logger = logging.getLogger(__name__)

__all__ = ["MARKER", "clean_leftovers", "previous_files", "staged_output"]

#: The marker file of every result: planner version, time and, per file, the command and
#: scenario that wrote it. A folder without it is not replaced (see :func:`staged_output`).
MARKER = ".planner-output.json"
#: Commands that write outputs.
COMMANDS = ("run", "grids", "inspect", "compare")
#: Files each command but ``run`` writes; ``run`` writes all but those of inspect and compare.
_FAMILIES = {
    "grids": ("grids.*", "grids_by_village.csv", "grid_issues.gpkg"),
    "inspect": ("inspection.*",),
    "compare": ("compare.*", "compare_map.html"),
}
#: File names planner versions before the marker wrote, and among them the names only the
#: planner writes: a folder holding only the former and one of the latter is such a result.
_OUTPUT_NAMES = ("*.csv", "*.png", "*.html", "coverage.gpkg", "proposals.gpkg",
                 "grid_issues.gpkg", "summary.json", "summary.xlsx", "grids.*", "inspection.*",
                 "compare.*")  # fmt: skip
_SIGNATURES = ("summary.json", "grids_by_village.csv", "grid_issues.gpkg", "inspection.gpkg",
               "compare.csv")  # fmt: skip
#: Files programs create beside a file they open (Excel, QGIS, SQLite, GDAL, Windows):
#: neither outputs nor user data; they are not carried into the next result.
_SIDE_FILES = ("~$*", "*-wal", "*-shm", "*-journal", "*.aux.xml", "*.qix", "Thumbs.db",
               "desktop.ini")  # fmt: skip
#: Temporary folders of :func:`planner.outputs.atomic.atomic_path` (``.<file>.<random>.tmp``).
_TMP = re.compile(r"\..+\.tmp")


# ---------------------------------------------------------------------------- leftovers


def _leftover(folder: Path, name: str, kind: str) -> bool:
    """Whether ``name`` is a staging (``kind="staging"``) or old-result folder of
    ``folder``, as :func:`staged_output` names them."""
    return re.fullmatch(rf"\.{re.escape(folder.name)}\.{kind}-\d+-\w+", name) is not None


def clean_leftovers(out_dir: str | os.PathLike[str]) -> list[Path]:
    """Remove what dead runs into ``out_dir`` left; hold :func:`output_lock` first.

    Beside the folder: staging folders and old results. When the folder itself is
    missing and an old result is there, the run died between the two renames of the
    swap: the old result is the previous complete one and is put back. Inside the folder
    (only when it is a planner result): the temporary folders of the atomic writers.

    Returns
    -------
    list of Path
        What was removed or put back.
    """
    folder = resolve_folder(out_dir)
    if not folder.parent.is_dir():
        return []
    done = []
    names = sorted(os.listdir(folder.parent))
    olds = [folder.parent / n for n in names if _leftover(folder, n, "old")]
    if olds and not os.path.lexists(folder):
        newest = max(olds, key=lambda p: p.stat().st_mtime_ns)
        os.rename(newest, folder)
        logger.info(f"put back the previous result of {folder} (a run died while replacing it)")
        olds.remove(newest)
        done.append(folder)
    stale = olds + [folder.parent / n for n in names if _leftover(folder, n, "staging")]
    if folder.is_dir() and _read_marker(folder) is not None:
        stale += [p for p in folder.iterdir() if _TMP.fullmatch(p.name) and p.is_dir()]
    for path in stale:
        _remove_tree(path)
        done.append(path)
    return done


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------- marker


def _read_marker(folder: Path) -> dict[str, Any] | None:
    """The marker of a result (``None`` when missing or unreadable)."""
    marker = folder / MARKER
    try:
        if not stat.S_ISREG(marker.lstat().st_mode):  # never open a FIFO or device
            return None
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        return None
    return data


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _contents(folder: Path) -> list[str]:
    """Names in ``folder`` that count: not hidden, not a side file of another program."""
    return sorted(
        n for n in os.listdir(folder) if not n.startswith(".") and not _matches(n, _SIDE_FILES)
    )


def previous_files(out_dir: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """The files of the result in ``out_dir`` with their marker entries (``{}`` when the
    folder is missing or empty).

    Raises
    ------
    PlannerError
        When the folder is a file, or holds files the planner did not write: no marker
        (and not a result of a planner version before the marker) or names the marker
        does not list.
    """
    folder = resolve_folder(out_dir)
    if not os.path.lexists(folder):
        return {}
    if not folder.is_dir():
        raise PlannerError(f"out_dir {folder} is a file; give a folder for the outputs")
    names = _contents(folder)
    marker = _read_marker(folder)
    if marker is not None:
        listed = marker["files"]
        foreign = [n for n in names if n not in listed]
    elif all(_matches(n, _OUTPUT_NAMES) for n in names) and set(_SIGNATURES) & set(names):
        listed, foreign = {n: {"command": "unknown"} for n in names}, []
    else:
        listed, foreign = {}, names
    if foreign:
        more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        raise PlannerError(
            f"out_dir {folder} holds files the planner did not write "
            f"({', '.join(foreign[:3])}{more}); choose another out_dir or empty it"
        )
    return {
        n: dict(listed[n]) if isinstance(listed[n], dict) else {}
        for n in names
        if (folder / n).is_file() or (folder / n).is_dir()  # parts/ of a Dask run
    }


def _written_by(command: str, name: str) -> bool:
    """Whether ``command`` writes (and so replaces) the file ``name``."""
    if command == "run":  # every file but those of inspect and compare, grids included
        return not _matches(name, _FAMILIES["inspect"] + _FAMILIES["compare"])
    return _matches(name, _FAMILIES[command])


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _write_marker(
    staging: Path, kept: dict[str, tuple[dict[str, Any], tuple[int, int, int]]], entry: dict
) -> int:
    """Write the marker listing every file of ``staging``; return how many are new.

    ``kept`` maps carried-over files to their previous entry and the identity they had
    when carried (inode, mtime, size): a file replaced since gets ``entry``.
    """
    files, new = {}, 0
    for name in _contents(staging):
        info = (staging / name).stat()
        previous = kept.get(name)
        if previous is not None and previous[1] == _identity(info):
            files[name] = {**previous[0], "bytes": info.st_size}
        else:
            files[name] = {**entry, "bytes": info.st_size}
            new += 1
    marker = {
        "written_by": "planner: the output folder of a run; do not put other files here",
        "planner_version": __version__,
        "updated": entry["written"],
        "files": files,
    }
    text = json.dumps(marker, ensure_ascii=False, indent=2)
    (staging / MARKER).write_text(text + "\n", encoding="utf-8")
    return new


def _identity(info: os.stat_result) -> tuple[int, int, int]:
    return info.st_ino, info.st_mtime_ns, info.st_size


# ---------------------------------------------------------------------------- staging

_OPEN: set[Path] = set()


@contextlib.contextmanager
def staged_output(
    out_dir: str | os.PathLike[str], *, command: str, scenario: str = ""
) -> Iterator[Path]:
    """Write a result into a staging folder and swap it in for ``out_dir`` at the end.

    Parameters
    ----------
    out_dir
        The output folder (created with its parents when missing).
    command
        One of :data:`COMMANDS`: decides which files of the previous result are replaced
        (see the module docstring) and is recorded in the marker.
    scenario
        Scenario name recorded in the marker.

    Yields
    ------
    Path
        The staging folder to write every file into. Inside an open staging folder (a
        writer called by another that stages) it is the folder given, unchanged.

    Raises
    ------
    PlannerError
        Another run holds the lock; the folder holds files the planner did not write; a
        file could not be written or the folder not replaced (the reason named, the
        previous result kept).
    """
    if command not in COMMANDS:
        raise ValueError(f"command must be one of {COMMANDS}, got {command!r}")
    folder = resolve_folder(out_dir)
    if folder in _OPEN:
        yield folder
        return
    with output_lock(folder), write_errors(folder):
        clean_leftovers(folder)
        previous = previous_files(folder)
        staging = _new_staging(folder)
        try:
            kept = _carry_over(folder, staging, previous, command)
            _OPEN.add(staging)
            try:
                yield staging
            finally:
                _OPEN.discard(staging)
            entry = {"command": command, "scenario": scenario, "written": _now()}
            new = _write_marker(staging, kept, entry)
            _swap(staging, folder)
        except BaseException:
            _remove_tree(staging)
            raise
    logger.info(f"wrote {new} files to {folder}")


def _new_staging(folder: Path) -> Path:
    """An empty staging folder beside ``folder``, with the old folder's permissions (or
    the default ones: ``mkdtemp`` would make it private)."""
    staging = folder.parent / f".{folder.name}.staging-{os.getpid()}-{secrets.token_hex(4)}"
    os.mkdir(staging)
    if folder.is_dir():
        os.chmod(staging, stat.S_IMODE(folder.stat().st_mode))
    return staging


def _carry_over(
    folder: Path, staging: Path, previous: dict[str, dict[str, Any]], command: str
) -> dict[str, tuple[dict[str, Any], tuple[int, int, int]]]:
    """Hard-link (or copy) into ``staging`` the previous files ``command`` does not write."""
    kept = {}
    for name, entry in previous.items():
        if _written_by(command, name):
            continue
        target = staging / name
        if (folder / name).is_dir():
            shutil.copytree(folder / name, target, copy_function=_link_or_copy)
        else:
            _link_or_copy(folder / name, target)
        kept[name] = (entry, _identity(target.stat()))
    return kept


def _link_or_copy(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Hard-link ``source`` to ``target``, or copy it where links cannot be made."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _swap(staging: Path, folder: Path) -> None:
    """Put ``staging`` in place of ``folder`` and delete the previous result."""
    if not os.path.lexists(folder):
        os.rename(staging, folder)
        return
    if _exchange(staging, folder):
        _remove_tree(staging)  # now the previous result
        return
    old = folder.parent / f".{folder.name}.old-{os.getpid()}-{secrets.token_hex(4)}"
    os.rename(folder, old)
    try:
        os.rename(staging, folder)
    except BaseException:
        os.rename(old, folder)
        raise
    _remove_tree(old)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders atomically (Linux ``renameat2``); False where that is not
    available (other systems, old C libraries, filesystems without support)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]  # fmt: skip
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))
