"""Progress bars for long steps: shown on a terminal, silent in CI, pipes and when switched off.

Messages go through :mod:`logging` (loggers named after the modules, under ``"planner"``)
and data problems through :func:`warnings.warn` with :class:`~planner.errors.PlannerWarning`;
the CLI renders both. Library users configure them the usual way.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")
logger = logging.getLogger(__name__)

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


class Steps:
    """The named steps of a long job: each announced in the log, timed, and shown on one
    progress bar (when bars are shown).

    Parameters
    ----------
    total
        How many steps the job has (the bar's length).
    desc
        The job, shown before the bar.
    level
        The logging level each step is announced at.
    """

    def __init__(self, total: int, *, desc: str, level: int = logging.INFO) -> None:
        self.seconds: dict[str, float] = {}
        self._level = level
        self._bar: Any = None
        if interactive():
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=desc, leave=False, unit="step")

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Run one step: log its name, time it, advance the bar."""
        logger.log(self._level, f"{name} …")
        if self._bar is not None:
            self._bar.set_postfix_str(name)
        start = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - start, 3)
        if self._bar is not None:
            self._bar.update()

    def close(self) -> None:
        """Remove the bar."""
        if self._bar is not None:
            self._bar.close()
