"""The OS lock of an output folder, and the errors of writing into one.

:func:`output_lock` takes an OS lock on ``.<name>.lock`` beside the output folder
``<name>``: a second run into the same folder is refused, and the lock dies with its
process, so a killed run never blocks the next one. :func:`write_errors` turns a failure
to write (a full disk, no permission, a read-only folder, a GDAL write error) into a
:class:`~planner.errors.PlannerError` naming the folder and the reason.
:mod:`planner.outputs.staging` uses both around every result it writes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pyogrio.errors

from planner.errors import PlannerError

__all__ = ["lock_path", "output_lock", "resolve_folder", "write_errors"]


#: Free space below which a failed write is blamed on a full disk, in bytes.
_LOW_SPACE = 64 * 2**20


def resolve_folder(out_dir: str | os.PathLike[str]) -> Path:
    """The output folder as an absolute path with symbolic links resolved (a link to a
    folder elsewhere is staged beside its target, on the target's filesystem)."""
    return Path(out_dir).expanduser().resolve()


# ---------------------------------------------------------------------------- lock


@dataclass
class _Held:
    handle: IO[bytes]
    thread: int
    depth: int = 1


_HELD: dict[Path, _Held] = {}


def lock_path(out_dir: str | os.PathLike[str]) -> Path:
    """The lock file of an output folder: ``.<name>.lock`` beside it."""
    folder = resolve_folder(out_dir)
    return folder.parent / f".{folder.name}.lock"


@contextlib.contextmanager
def output_lock(out_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold the lock of an output folder (re-entrant within one thread).

    The lock is an OS lock (``flock`` on POSIX, ``msvcrt.locking`` on Windows) on
    ``.<name>.lock`` beside the folder; it is released when the process ends, however it
    ends. The lock file itself stays (deleting it could let two runs in at once).

    Yields
    ------
    Path
        The lock file.

    Raises
    ------
    PlannerError
        When another process (or thread) holds the lock, or the lock file cannot be made.
    """
    folder = resolve_folder(out_dir)
    path = lock_path(folder)
    held = _HELD.get(path)
    if held is not None and held.thread == threading.get_ident():
        held.depth += 1
        try:
            yield path
        finally:
            held.depth -= 1
        return
    if held is not None:
        raise PlannerError(f"another planner run is writing to {folder}; wait until it ends")
    with write_errors(folder):
        folder.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+b")  # held open while locked
    try:
        if not _try_lock(handle):
            raise PlannerError(
                f"another planner run{_owner(path)} is writing to {folder}; wait until it "
                "ends or stop it, then run again"
            )
        _note_owner(handle)
        _HELD[path] = _Held(handle, threading.get_ident())
        try:
            yield path
        finally:
            del _HELD[path]
    finally:
        handle.close()  # releases the lock


def _try_lock(handle: IO[bytes]) -> bool:
    """Take the OS lock without waiting; False when another process holds it."""
    if sys.platform == "win32":
        import msvcrt

        handle.seek(0)
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _note_owner(handle: IO[bytes]) -> None:
    """Write this process's id into the lock file (for the message a second run gets)."""
    with contextlib.suppress(OSError):
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()).encode())
        handle.flush()


def _owner(path: Path) -> str:
    """`` (process <pid>)`` from a lock file, or "" when it cannot be read."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeError):
        return ""
    return f" (process {text})" if text.isdigit() else ""


# ---------------------------------------------------------------------------- errors

_NO_ACCESS = "choose a folder you may write to, and close output files open in other programs"
_FIXES = {
    errno.ENOSPC: "free some disk space or choose another out_dir",
    errno.EDQUOT: "free some disk space or choose another out_dir",
    errno.EFBIG: "choose another out_dir (the file is too large for this disk or account)",
    errno.EACCES: _NO_ACCESS,
    errno.EPERM: _NO_ACCESS,
    errno.EROFS: "choose a writable out_dir",
    errno.EBUSY: "choose a folder inside it (a mount point cannot be replaced) and close "
    "programs using it",
}


@contextlib.contextmanager
def write_errors(folder: Path) -> Iterator[None]:
    """Turn a failure to write into a :class:`PlannerError` naming the folder and why."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.filename:
            reason += f" ({Path(exc.filename).name})"
        raise _write_error(folder, reason, _FIXES.get(exc.errno or 0, "")) from exc
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise _write_error(folder, f"GDAL: {exc}", "check the disk and run again") from exc


def _write_error(folder: Path, reason: str, fix: str) -> PlannerError:
    """The error of a failed write; a nearly full disk is named whatever the reason."""
    free = _space(folder)
    if free < _LOW_SPACE and "no space left" not in reason.lower():
        reason += f"; no space left on device ({free / 2**20:.0f} MB free)"
        fix = _FIXES[errno.ENOSPC]
    text = f"cannot write the outputs to {folder}: {reason[:1].lower()}{reason[1:]}"
    text += "; the previous result is kept" if folder.is_dir() else "; nothing was written"
    return PlannerError(f"{text} ({fix})" if fix else text, fix=fix)


def _space(folder: Path) -> int:
    """Free bytes on the filesystem of ``folder`` (of its nearest existing parent)."""
    anchor = next((p for p in (folder, *folder.parents) if p.is_dir()), None)
    try:
        return shutil.disk_usage(anchor or folder.anchor).free
    except OSError:
        return _LOW_SPACE
