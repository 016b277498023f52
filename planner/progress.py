"""Console messages and progress bars: lively on a terminal, quiet in CI and pipes."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console

T = TypeVar("T")
console = Console(stderr=True, highlight=False)
_STYLE = {"info": "dim", "warning": "yellow", "error": "bold red"}


def interactive() -> bool:
    """True on a terminal outside CI (progress bars are shown only then)."""
    return sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("1", "true")


def log(message: str, *, level: str = "info") -> None:
    """Print one status line to stderr."""
    if level == "info" and os.environ.get("PLANNER_QUIET"):
        return
    console.print(message, style=_STYLE.get(level, ""), markup=False)


def progress(items: Iterable[T], *, total: int | None = None, desc: str = "") -> Iterator[T]:
    """Iterate with a tqdm bar on a terminal; plainly otherwise."""
    if not interactive():
        yield from items
        return
    from tqdm.auto import tqdm

    yield from tqdm(items, total=total, desc=desc, leave=False)
