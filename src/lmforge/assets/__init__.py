"""Data shipped inside the package so the main job needs nothing else."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).parent


def tinyshakespeare_path() -> Path:
    """Path to the bundled tinyshakespeare corpus (public domain; see SOURCE.txt beside it)."""
    return _HERE / "tinyshakespeare" / "input.txt"
