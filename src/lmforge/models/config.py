"""Config dataclasses <-> JSON, with validation that explains mismatches.

Every model family has one ``@dataclass`` config. It is saved as ``config.json``
next to ``model.safetensors`` together with a ``"family"`` key, and loading
validates field names and types so a typo says which key is wrong.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

from lmforge.errors import ConfigError

C = TypeVar("C")


def config_to_dict(config: Any, family: str) -> dict[str, Any]:
    """Serialise a config dataclass (plus the family name) for ``config.json``."""
    return {"family": family, **dataclasses.asdict(config)}


def _type_ok(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(annotation))
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is not None:
        return isinstance(value, origin)
    return isinstance(value, annotation)


def config_from_dict(cls: type[C], data: dict[str, Any], source: str = "config") -> C:
    """Build ``cls`` from a dict, rejecting unknown keys and wrongly-typed values."""
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    data = {k: v for k, v in data.items() if k != "family"}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ConfigError(f"{source}: unknown field(s) {unknown} for {cls.__name__}; expected some of {sorted(fields)}")
    for key, value in data.items():
        if not _type_ok(value, hints[key]):
            raise ConfigError(f"{source}: field {key!r} = {value!r} does not match the expected type {hints[key]}")
    config = cls(**data)
    validate = getattr(config, "validate", None)
    if validate is not None:
        validate()
    return config
