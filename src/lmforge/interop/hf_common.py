"""Shared plumbing for Hugging Face checkpoints: reading/writing ``config.json`` +
safetensors, and applying an explicit name map in either direction.

A name map is a list of :class:`Tensor` entries, one per lmforge tensor. Most
are plain renames. Where lmforge fuses projections that HF keeps apart (q/k/v
into ``qkv``, gate/up into ``gate_up``), an entry lists several HF names and is
concatenated along the output dimension on import and split on export.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import safetensors.torch
import torch

from lmforge.errors import ConfigError
from lmforge.io import atomic_write, read_json, read_safetensors, write_json

# lmforge's activation names -> Hugging Face's (hidden_act / activation_function / ff_activation)
ACTIVATIONS = {"gelu": "gelu", "gelu_tanh": "gelu_new", "relu": "relu"}


def hf_activation(ours: str, field: str, table: dict[str, str] = ACTIVATIONS) -> str:
    """Hugging Face's name for our activation ``ours``, written to the config's ``field``; one that has no
    parity-tested HF twin in this family (e.g. ``silu`` or ``relu2`` in a BERT) is refused, naming the field."""
    if ours not in table:
        raise ConfigError(f"cannot export activation {ours!r} as Hugging Face's {field}: expected one of "
                          f"{', '.join(sorted(table))}")
    return table[ours]


@dataclass(frozen=True)
class Tensor:
    ours: str
    hf: tuple[str, ...]  # several names: concatenated along dim 0 (our fused projection)
    transpose: bool = False  # HF Conv1D weights are stored (in, out)


def rename(ours: str, hf: str, transpose: bool = False) -> Tensor:
    return Tensor(ours, (hf,), transpose)


def rewrite_hf_names(names: list[Tensor], rules: list[tuple[str, str]]) -> list[Tensor]:
    """``names`` with every HF name passed through the regex ``rules`` in order: how a family that stores
    another's tensors under other names (ALBERT, ELECTRA: BERT's) reuses that family's map."""
    def rewrite(name: str) -> str:
        for pattern, repl in rules:
            name = re.sub(pattern, repl, name)
        return name

    return [Tensor(e.ours, tuple(map(rewrite, e.hf)), e.transpose) for e in names]


def read_hf_config(hf_dir: Path, model_types: tuple[str, ...]) -> dict:
    path = hf_dir / "config.json"
    config = read_json(path, "HF config")
    if config.get("model_type") not in model_types:
        expected = " or ".join(repr(t) for t in model_types)
        raise ConfigError(f"{path}: model_type is {config.get('model_type')!r}, expected {expected}")
    return config


def read_hf_weights(hf_dir: Path) -> dict[str, torch.Tensor]:
    """All tensors of ``model.safetensors`` (or of a sharded ``model.safetensors.index.json``)."""
    single, index = hf_dir / "model.safetensors", hf_dir / "model.safetensors.index.json"
    if single.is_file():
        return read_safetensors(single, "HF weights")
    if index.is_file():
        state: dict[str, torch.Tensor] = {}
        for shard in _index_shards(index):
            state.update(read_safetensors(hf_dir / shard, f"shard named in {index}"))
        return state
    raise ConfigError(f"{hf_dir}: no model.safetensors (only safetensors weights are loaded, never pickles)")


def _index_shards(index: Path) -> list[str]:
    """The shard files a sharded checkpoint's index names, each checked to exist before any is read."""
    doc = read_json(index, "sharded checkpoint index")
    weight_map = doc.get("weight_map") if isinstance(doc, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise ConfigError(f"{index}: expected a non-empty 'weight_map' object {{tensor name: shard file}}")
    shards = sorted(set(map(str, weight_map.values())))
    missing = [s for s in shards if not (index.parent / s).is_file()]
    if missing:
        raise ConfigError(f"{index}: names {len(missing)} shard file(s) missing beside it, e.g. {missing[0]!r}")
    return shards


def from_hf_state(hf_state: dict[str, torch.Tensor], names: list[Tensor], source: str) -> dict[str, torch.Tensor]:
    """HF tensors -> lmforge state dict (fp32), following ``names``."""
    state = {}
    for entry in names:
        missing = [n for n in entry.hf if n not in hf_state]
        if missing:
            raise ConfigError(f"{source}: missing tensor {missing[0]}")
        t = torch.cat([hf_state[n] for n in entry.hf], dim=0)
        state[entry.ours] = (t.t() if entry.transpose else t).float().contiguous()
    return state


def to_hf_state(state: dict[str, torch.Tensor], names: list[Tensor],
                sizes: Callable[[Tensor], list[int]] | None = None) -> dict[str, torch.Tensor]:
    """lmforge state dict -> HF tensors. ``sizes(entry)`` gives the split of a fused tensor."""
    out = {}
    for entry in names:
        t = state[entry.ours]
        t = t.t() if entry.transpose else t
        pieces = t.split(sizes(entry), dim=0) if len(entry.hf) > 1 else (t,)
        out.update({n: p.contiguous() for n, p in zip(entry.hf, pieces, strict=True)})
    return out


def write_hf_dir(out_dir: str | Path, config: dict, tensors: dict[str, torch.Tensor]) -> None:
    """Write ``config.json`` + ``model.safetensors`` (atomically, each)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "config.json", config)
    with atomic_write(out_dir / "model.safetensors", "wb") as f:
        f.write(safetensors.torch.save(tensors, metadata={"format": "pt"}))
