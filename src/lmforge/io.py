"""File helpers shared by every stage: atomic writes and strict text reading."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from lmforge.errors import DataError

if TYPE_CHECKING:
    import torch

# Read once at import: the only portable way to read the umask is to set it and put it back,
# which is not safe to do while other threads create files.
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Write ``path`` all-or-nothing: a temp file in the same folder, fsync, rename.

    A crash (or Ctrl-C) mid-write leaves the old file untouched instead of a
    half-written one, which matters for checkpoints that a resume will read.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    binary = "b" in mode
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the permissions open() would
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """``text`` into ``path`` atomically (a crash never leaves half a file), UTF-8; returns the path."""
    with atomic_write(path) as f:
        f.write(text)
    return Path(path)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Atomically write ``obj`` as pretty JSON."""
    with atomic_write(path) as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


def read_json(path: str | os.PathLike[str], what: str = "JSON file") -> Any:
    """Read JSON, turning a missing file or a syntax error into a message with line/column."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
        if not text.strip():
            raise DataError(f"{path}: the file is empty (expected {what})")
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: line {e.lineno}, column {e.colno}: invalid JSON ({e.msg})") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: byte offset {e.start}: not valid UTF-8") from None


def read_text(path: str | os.PathLike[str]) -> str:
    """Read a UTF-8 text file strictly.

    Silently replacing bad bytes would corrupt training data, so a non-UTF-8
    byte is an error that names its byte offset (and line) in the file.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"file not found: {path}")
    if path.is_dir():
        raise DataError(f"expected a text file but got a directory: {path}")
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataError(
            f"{path}: byte offset {e.start} (line {line}): byte 0x{data[e.start]:02x} is not valid UTF-8; "
            "convert the file to UTF-8 (e.g. `iconv -f latin1 -t utf-8`)"
        ) from None


def read_json_lines(path: str | os.PathLike[str]) -> list[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for every non-blank line of a JSON-lines file.

    A line that is not JSON, or is JSON but not an object, is an error naming the line:
    JSONL files are appended to line by line, so a killed writer or a hand edit damages
    one line, and the user needs to know which.
    """
    path = Path(path)
    rows = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: line {number}, column {e.colno}: invalid JSON ({e.msg})") from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}: line {number}: expected a JSON object, got {type(obj).__name__}")
        rows.append((number, obj))
    return rows


def read_safetensors(path: str | os.PathLike[str], what: str = "weights file") -> dict[str, torch.Tensor]:
    """All tensors of a ``.safetensors`` file; a missing or damaged file is one line naming it."""
    import safetensors.torch  # imported here: torch is slow to import and most readers here do not need it

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} not found: {path}")
    try:
        return safetensors.torch.load_file(str(path))
    except safetensors.SafetensorError as e:
        raise DataError(f"{path}: not a readable safetensors file ({e}); was it truncated?") from None


def pyplot() -> Any:
    """matplotlib.pyplot on the file-only Agg backend: every figure lmforge draws goes to a PNG, never a window,
    so plotting works on servers and in CI without a display (imported here, lazily: most commands draw nothing)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Any, path: str | os.PathLike[str], dpi: int = 110, **savefig: Any) -> None:
    """Write ``fig`` to ``path`` atomically (a crash never leaves half a PNG in a run directory) and free it
    (pyplot keeps every open figure alive until it is closed)."""
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=dpi, **savefig)
    pyplot().close(fig)
