"""Named model + training presets, stored as JSON data (never code)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lmforge.errors import ConfigError
from lmforge.io import read_json

_HERE = Path(__file__).parent


def available_presets() -> list[str]:
    return sorted(p.stem for p in _HERE.glob("*.json"))


def load_preset(name_or_path: str) -> dict[str, Any]:
    """A preset by name (see :func:`available_presets`) or a path to a JSON file of the same shape."""
    path = Path(name_or_path)
    if path.suffix != ".json":
        path = _HERE / f"{name_or_path}.json"
        if not path.is_file():
            raise ConfigError(f"unknown preset {name_or_path!r}; available: {', '.join(available_presets())}")
    preset = read_json(path, "preset")
    for key in ("model", "train"):
        if not isinstance(preset.get(key), dict):
            raise ConfigError(f"{path}: a preset needs a {key!r} object")
    return preset
