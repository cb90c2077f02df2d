"""Read the key/value metadata at the start of a GGUF file (llama.cpp's model format).

A GGUF file is: a header, a list of typed key/value pairs (architecture,
hyper-parameters, and the whole tokenizer: tokens, merges, special ids, chat
template), then tensor descriptions and the tensor data. Tokenizers and chat
templates only need the key/value part, so this reader stops there: it reads
SmolLM2's 49k-token vocabulary in a fraction of a second, where the ``gguf``
package's reader also maps every tensor first (~10 s on a laptop).

Layout (little-endian): ``b"GGUF"``, version u32, tensor count u64, kv count
u64, then per pair a string key, a u32 value type and the value; a string is a
u64 byte length plus UTF-8 bytes; an array is an element type u32, a u64
count and the elements.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO

from lmforge.errors import DataError

_SCALARS = {  # GGUF value type -> struct format
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d",
}
_STRING, _ARRAY = 8, 9


def read_gguf_metadata(path: str | Path) -> dict[str, Any]:
    """All metadata of a GGUF file as ``{key: value}`` (arrays become lists)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"GGUF file not found: {path}")
    with path.open("rb") as f:
        if f.read(4) != b"GGUF":
            raise DataError(f"{path}: not a GGUF file (it does not start with the bytes 'GGUF')")
        try:
            version, _n_tensors, n_kv = struct.unpack("<IQQ", f.read(20))
            if version < 2:
                raise DataError(f"{path}: GGUF version {version} is not supported (need 2 or later)")
            meta: dict[str, Any] = {}
            for _ in range(n_kv):
                key = _read_string(f)
                meta[key] = _read_value(f, _read(f, "<I"))
        except (struct.error, UnicodeDecodeError, KeyError) as e:
            raise DataError(f"{path}: byte offset {f.tell()}: corrupt GGUF metadata ({e})") from None
    return meta


def _read(f: BinaryIO, fmt: str) -> Any:
    return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]


def _read_string(f: BinaryIO) -> str:
    return f.read(_read(f, "<Q")).decode("utf-8")


def _read_value(f: BinaryIO, kind: int) -> Any:
    if kind == _STRING:
        return _read_string(f)
    if kind == _ARRAY:
        item_kind, count = _read(f, "<I"), _read(f, "<Q")
        if item_kind in _SCALARS:  # one unpack for the whole array
            fmt = _SCALARS[item_kind]
            return list(struct.unpack(f"<{count}{fmt[1]}", f.read(count * struct.calcsize(fmt))))
        return [_read_value(f, item_kind) for _ in range(count)]
    return _read(f, _SCALARS[kind])
