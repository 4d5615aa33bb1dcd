"""One pydantic base for everything a user writes down, and one way to say what is wrong.

As useq-schema's ``_base_model.py``: every settings, plan, config and record model
derives from :class:`SrscopeModel` (unknown keys refused, so a typo never silently
changes what happens), loads from JSON or YAML (``yaml.safe_load``) and saves by
the file's suffix. A pydantic ``ValidationError`` becomes one line naming the field,
the value and the rule (``psf.na = -0.15: Input should be greater than 0``) through
:func:`field_error` only, and any other exception text through :func:`one_line`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from srscope.atomic import write_text_atomic
from srscope.errors import SettingsError, SrscopeError

if TYPE_CHECKING:
    from typing_extensions import Self

YAML_SUFFIXES = (".yaml", ".yml")


class SrscopeModel(BaseModel):
    """Base of srscope's pydantic models: extra keys forbidden, file round trips."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def validated(cls, data: Any, what: str, error: type[SrscopeError] = SettingsError) -> Self:
        """``cls`` from ``data``; invalid data is one ``error`` line ``"{what}: {field_error}"``."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise error(f"{what}: {field_error(exc, data)}") from None

    @classmethod
    def from_json(
        cls, text: str | bytes, what: str, error: type[SrscopeError] = SettingsError
    ) -> Self:
        """``cls`` from JSON text; bad JSON or invalid data is one ``error`` line."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise error(f"{what}: not valid JSON ({one_line(exc)})") from None
        return cls.validated(data, what, error)

    @classmethod
    def from_file(cls, path: str | os.PathLike, what: str | None = None) -> Self:
        """``cls`` from a JSON or YAML file; a missing, unreadable or invalid file is one line."""
        path = Path(path)
        if not path.is_file():
            raise SettingsError(f"{what or cls.__name__} file not found: {path}")
        data = read_mapping(path)  # an empty YAML file is an empty mapping: all defaults
        return cls.validated({} if data is None else data, f"{what + ' ' if what else ''}{path}")

    def to_file(self, path: str | os.PathLike, *, exclude_none: bool = False) -> Path:
        """Write JSON, or YAML where ``path`` ends in ``.yaml``/``.yml`` (atomically)."""
        path = Path(path)
        if path.suffix.lower() in YAML_SUFFIXES:
            data = self.model_dump(mode="json", exclude_none=exclude_none)
            text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        else:
            text = self.model_dump_json(indent=2, exclude_none=exclude_none)
        return write_text_atomic(path, text)


def read_mapping(path: str | os.PathLike) -> Any:
    """The data of a JSON (``.json``) or YAML file; bad syntax is one line naming the file."""
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (ValueError, yaml.YAMLError, OSError) as exc:
        raise SettingsError(f"{path.name} is not valid YAML/JSON: {one_line(exc)}") from None


def one_line(message: object, limit: int | None = 200) -> str:
    """An exception's (or any) text on one line, at most ``limit`` characters."""
    return " ".join(str(message).split())[:limit]


def field_error(exc: ValidationError, data: Any = None) -> str:
    """The first error of ``exc`` on one line, naming the field and the value.

    A value of the wrong kind reads ``objective_group: Input should be a valid
    string (got 3)``; a value out of range ``psf.na = -0.15: Input should be
    greater than 0``; a missing or unknown key ``bogus: Extra inputs are not
    permitted``. With the validated ``data``, the tags pydantic puts in a
    discriminated union's error location (``psf.airy.na``) are left out (``psf.na``).
    """
    err = exc.errors(include_url=False)[0]
    where = ".".join(_path(err["loc"], data))
    msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    kind, value = err["type"], err.get("input")
    shown = (type(value).__name__ if isinstance(value, dict | list) else repr(value))[:60]
    if not where:
        line = msg
    elif kind in ("missing", "extra_forbidden"):
        line = f"{where}: {msg}"
    elif kind.endswith(("_type", "_parsing")):
        line = f"{where}: {msg} (got {shown})"
    else:
        line = f"{where} = {shown}: {msg}"
    return one_line(line)


def _path(loc: tuple[int | str, ...], data: Any) -> list[str]:
    parts: list[str] = []
    node, tagged = data, False
    for i, step in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, dict):
            if not tagged and not last and step == node.get("kind"):
                tagged = True  # the union tag comes before the field of that mapping
                continue
            if step in node:
                node, tagged = node[step], False
            elif not last and isinstance(step, str):
                continue  # a union tag (or a validator's name): not a key of the data
            else:
                node = None
        elif isinstance(node, list | tuple) and isinstance(step, int) and step < len(node):
            node, tagged = node[step], False
        else:
            node = None
        if isinstance(step, str) and "[" in step:  # "function-after[...]" and the like
            continue
        parts.append(str(step))
    return parts
