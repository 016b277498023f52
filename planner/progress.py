"""Progress bars for long steps: shown on a terminal, silent in CI, pipes and when switched off.

Messages go through :mod:`logging` (loggers named after the modules, under ``"planner"``)
and data problems through :func:`warnings.warn` with :class:`~planner.errors.PlannerWarning`;
the CLI renders both. Library users configure them the usual way.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

#: ``None``: bars on a terminal outside CI; ``True``/``False``: always/never
_verbose: bool | None = None


def set_verbose(verbose: bool | None) -> None:
    """Switch progress bars on (``True``), off (``False``) or back to automatic (``None``)."""
    global _verbose
    _verbose = verbose


def interactive() -> bool:
    """True when progress bars are shown: switched on, or automatic on a terminal outside CI."""
    if _verbose is not None:
        return _verbose
    return sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("1", "true")


def progress(items: Iterable[T], *, total: int | None = None, desc: str = "") -> Iterator[T]:
    """Iterate with a tqdm bar when bars are shown; plainly otherwise."""
    if not interactive():
        yield from items
        return
    from tqdm.auto import tqdm

    yield from tqdm(items, total=total, desc=desc, leave=False)
