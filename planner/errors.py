"""Exceptions raised for bad input, and the warning class for data problems.

Every error a user can cause is a :class:`PlannerError` (a ``ValueError``). The CLI
catches it, prints its message and exits with status 2; no traceback is shown.
"""

from __future__ import annotations

import inspect
import os
import warnings
from dataclasses import dataclass


class PlannerWarning(UserWarning):
    """A data problem the run works around (a blank population, a level without centers).

    Raised through :func:`warnings.warn`, so ``warnings.filterwarnings`` (or pytest's
    ``filterwarnings``) can silence it or turn it into an error.
    """


def warn(message: str) -> None:
    """Warn of a data problem the run works around, as a :class:`PlannerWarning`.

    The warning is reported at the first frame outside the planner package, the user's own
    call (``pl.coverage(...)``, ``pl.run(...)``), however deep in the package it is
    raised (as pandas' ``find_stack_level`` does).
    """
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame = inspect.currentframe()
    level = 1  # this function's own frame
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame = frame.f_back
        level += 1
    warnings.warn(message, PlannerWarning, stacklevel=level - 1 if frame is None else level)


class PlannerError(ValueError):
    """Bad input or an impossible request; the message is meant for the user.

    Parameters
    ----------
    message
        What is wrong, in the user's terms.
    column
        The user's column the problem is about, when there is one.
    fix
        What the user should do about it ("" when the message says it).
    """

    def __init__(self, message: str = "", *, column: str = "", fix: str = ""):
        super().__init__(message)
        self.column, self.fix = column, fix


@dataclass(frozen=True)
class Problem:
    """One finding of a validation pass.

    Parameters
    ----------
    severity
        ``"error"`` stops the run; ``"warning"`` is reported and the run goes on.
    layer
        Layer kind (``"villages"``) or ``"scenario"``.
    file
        The file the problem was found in ("" when not file-bound).
    row
        1-based data row (feature) number, or ``None`` when the whole layer is meant.
    column
        Column (attribute) name, or ``""``.
    problem
        What is wrong, showing the offending value.
    fix
        What the user should do about it.
    count
        How many rows the finding stands for: 1, or more for a summary row
        (``"... and 80 more rows with: …"`` has ``count=80``).
    """

    severity: str
    layer: str
    file: str
    row: int | None
    column: str
    problem: str
    fix: str = ""
    count: int = 1

    def __str__(self) -> str:
        where = self.file or self.layer
        if self.row is not None:
            where += f", row {self.row}"
        if self.column:
            where += f", column {self.column!r}"
        text = f"{self.severity}: {where}: {self.problem}"
        return f"{text} ({self.fix})" if self.fix else text


class ValidationError(PlannerError):
    """Raised once with every error found, so the user can fix them all in one go."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        errors = [p for p in self.problems if p.severity == "error"]
        rows = sum(p.count for p in errors)
        lines = [f"{rows} problem(s) in the input:"] + [f"  {p}" for p in errors]
        super().__init__("\n".join(lines))
