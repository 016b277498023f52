"""Problems found in one layer, collected so that a long list stays readable.

Every check of a layer reports through a :class:`LayerProblems`: at most
:data:`MAX_LISTED` rows of one kind of problem are listed, the rest are counted in one
closing line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from planner.errors import Problem

#: Problems of one kind listed per layer before they are summarised.
MAX_LISTED = 20


class LayerProblems:
    """Collects problems for one layer, listing at most a few of each kind."""

    def __init__(self, kind: str, path: Path):
        self.kind, self.file = kind, str(path)
        self.problems: list[Problem] = []
        self._counts: dict[tuple[str, str], int] = {}

    def add(
        self,
        severity: str,
        problem: str,
        *,
        row: int | None = None,
        column: str = "",
        fix: str = "",
        key: str | None = None,
    ) -> None:
        """Add one problem (``key`` groups problems whose texts differ)."""
        tag = (severity, key or problem)
        self._counts[tag] = self._counts.get(tag, 0) + 1
        if self._counts[tag] <= MAX_LISTED:
            self.problems.append(Problem(severity, self.kind, self.file, row, column, problem, fix))

    def rows(
        self,
        severity: str,
        mask: np.ndarray,
        rows: np.ndarray,
        problem: str,
        *,
        column: str = "",
        fix: str = "",
        values: pd.Series | None = None,
    ) -> None:
        """Add one problem per flagged row (``problem`` may use ``{value}``).

        Only the first few rows of a kind are formatted; the rest are counted.
        """
        flagged = np.flatnonzero(mask)
        if not flagged.size:
            return
        tag = (severity, problem)
        room = max(MAX_LISTED - self._counts.get(tag, 0), 0)
        for pos in flagged[:room]:
            text = problem.format(value=values.iloc[pos] if values is not None else "")
            self.problems.append(
                Problem(severity, self.kind, self.file, int(rows[pos]), column, text, fix)
            )
        self._counts[tag] = self._counts.get(tag, 0) + flagged.size

    def finish(self) -> list[Problem]:
        """The problems listed, and one line per kind counting those left out."""
        for (severity, key), count in self._counts.items():
            if count > MAX_LISTED:
                self.problems.append(
                    Problem(
                        severity,
                        self.kind,
                        self.file,
                        None,
                        "",
                        f"... and {count - MAX_LISTED} more rows with: {key.format(value='…')}",
                        count=count - MAX_LISTED,
                    )
                )
        return self.problems


def listed_texts(text: Callable[[int], str], *masks: np.ndarray) -> pd.Series:
    """``text(i)`` for the rows a problem list shows (the first few flagged by each mask),
    ``""`` for the others; positions follow the masks."""
    values = np.full(len(masks[0]), "", dtype=object)
    shown = np.unique(np.concatenate([np.flatnonzero(m)[:MAX_LISTED] for m in masks]))
    values[shown] = [text(i) for i in shown]
    return pd.Series(values, dtype=object)
