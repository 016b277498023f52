"""Pydantic's validation errors as one line per problem, in the scenario's own words.

Each line names the key path as the user wrote it (``levels.township.radius_m``), leaving
out pydantic's internal steps, and says what was expected and what was given:
``levels.township.radius_m: expected a number, got "5km"``; a misspelt key gets the
closest known key: ``levels.township.radius: unknown key (did you mean radius_m?)``.
"""

from __future__ import annotations

import re
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from planner.scenario.sections import MAX_NAME_CHARS
from planner.scenario.values import describe, did_you_mean

_EXPECTED: dict[str, str] = {
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "finite_number": "expected a finite number",
    "int_parsing": "expected a whole number",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected text",
    "dict_type": "expected a table",
    "model_type": "expected a table",
    "model_attributes_type": "expected a table",
    "tuple_type": "expected a list",
    "list_type": "expected a list",
    "path_type": "expected a path (text)",
    "string_too_short": "expected non-empty text",
    "string_too_long": f"expected at most {MAX_NAME_CHARS} characters",
}
_BOUNDS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")

#: Steps pydantic puts in an error location that are not keys (``function-after[…]``,
#: ``[key]`` for a bad table key).
_PYDANTIC_STEP = re.compile(r"\[key\]|(function|tagged-union|union)-?[\w-]*\[.*\]", re.S)


def format_error(err: ErrorDetails, root: type[BaseModel]) -> str:
    """One pydantic error of validating ``root`` as message lines starting with its key
    path (several lines, joined by a newline and indent, for a multi-line message)."""
    parts = _key_path(err)
    loc = ".".join(str(p) for p in parts)
    kind = err["type"]
    if kind == "extra_forbidden":
        model = _model_at(root, parts)
        hint = did_you_mean(parts[-1], model.model_fields) if model and parts else ""
        return f"{loc}: unknown key{hint}"
    if kind == "missing":
        return f"{loc}: required key is missing"
    if kind in _EXPECTED:
        return f"{loc}: {_EXPECTED[kind]}, got {describe(err.get('input'))}"
    message = str(err["msg"]).removeprefix("Value error, ")
    if kind == "literal_error":
        message = message.replace("Input should be", "expected")
        choices = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
        given = err.get("input")
        hint = did_you_mean(given, choices) if isinstance(given, str) else ""
        return f"{loc}: {message}, got {describe(given)}{hint}"
    if kind in _BOUNDS:
        message = message.replace("Input should be", "expected a number")
        return f"{loc}: {message}, got {describe(err.get('input'))}"
    return "\n  ".join(_at(loc, line) for line in message.split("\n"))


def _key_path(err: ErrorDetails) -> tuple[Any, ...]:
    """The keys of an error's location, without pydantic's own steps (an unknown key is
    the user's, whatever it looks like)."""
    *path, last = err["loc"] or ("",)
    parts = tuple(p for p in path if not _PYDANTIC_STEP.fullmatch(str(p)))
    if err["type"] == "extra_forbidden" or not _PYDANTIC_STEP.fullmatch(str(last)):
        parts += (last,)
    return parts


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The settings model whose key ``loc[-1]`` is, following ``loc`` from ``root``."""
    model: Any = root
    parts = list(loc[:-1])
    while parts:
        field = model.model_fields.get(str(parts.pop(0)))
        if field is None:
            return None
        annotation = field.annotation
        if get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
            if not parts:
                return None
            parts.pop(0)  # the table's own key (a layer kind, a level)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def _at(loc: str, line: str) -> str:
    """Prefix one message line with its key path; a line starting with ``.`` names a
    key below ``loc``, a line starting with ``loc`` has its path already."""
    if line.startswith("."):
        return f"{loc}{line}"
    return line if not loc or line.startswith(loc) else f"{loc}: {line}"
