"""Llama- and GPT-2-architecture GGUF files (llama.cpp) -> an lmforge Llama or GPT + tokenizer files.
(The writer, :mod:`lmforge.interop.gguf_write`, uses the same name maps the other way.)

Quantized tensors (Q4_1, Q8_0, ...) are dequantized to fp32 with the ``gguf``
package. One trap: llama.cpp rotates *neighbouring* channel pairs in RoPE
while HF and lmforge rotate (first half, second half) pairs, so llama.cpp's
converter permutes the rows of every q and k matrix. :func:`unpermute_rows`
undoes that permutation, head by head.

The tokenizer (byte-level BPE vocab + merges) and chat template are stored in
the GGUF metadata; :func:`gguf_tokenizer_files` writes them out as HF
``tokenizer.json`` + ``tokenizer_config.json``, the same files transformers
derives from the GGUF.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from lmforge.errors import ConfigError
from lmforge.interop.hf_common import Tensor, from_hf_state, rename
from lmforge.io import write_json
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.llama import Llama, LlamaConfig
from lmforge.models.registry import load_state, save_model
from lmforge.tokenizers.hf_json import bpe_model_json, tokenizer_json

CONTROL, USER_DEFINED = 3, 4  # llama.cpp token types that are special tokens
BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}


def _reader(path: Path):
    try:
        import gguf
    except ImportError:
        raise ConfigError("reading GGUF files needs the 'gguf' package: pip install gguf") from None
    if not path.is_file():
        raise ConfigError(f"GGUF file not found: {path}")
    try:
        return gguf.GGUFReader(str(path))
    except (ValueError, OSError) as e:
        raise ConfigError(f"{path}: not a readable GGUF file ({e})") from None


def _metadata(reader) -> dict[str, Any]:
    """Scalar/string/list metadata, except the (large) token tables."""
    out = {}
    for key, field in reader.fields.items():
        if not key.startswith(("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type")):
            out[key] = field.contents()
    return out


def config_from_gguf(meta: dict[str, Any], has_output: bool, source: str) -> LlamaConfig:
    arch = meta.get("general.architecture")
    if arch != "llama":
        raise ConfigError(f"{source}: architecture {arch!r} is not supported (only 'llama')")

    def get(key: str, default: Any = None) -> Any:
        value = meta.get(f"llama.{key}", default)
        if value is None:
            raise ConfigError(f"{source}: GGUF metadata llama.{key} is missing")
        return value

    n_heads = int(get("attention.head_count"))
    d_model = int(get("embedding_length"))
    scaling = None
    if meta.get("llama.rope.scaling.type", "none") == "linear":
        scaling = {"rope_type": "linear", "factor": float(get("rope.scaling.factor"))}
    return LlamaConfig(
        vocab_size=int(meta.get("llama.vocab_size") or len(meta["tokenizer.ggml.tokens"])),
        context_length=int(get("context_length")),
        d_model=d_model,
        n_layers=int(get("block_count")),
        n_heads=n_heads,
        n_kv_heads=int(get("attention.head_count_kv", n_heads)),
        d_mlp=int(get("feed_forward_length")),
        head_dim=int(get("rope.dimension_count", d_model // n_heads)),
        rope_theta=float(get("rope.freq_base", 10000.0)),
        rope_scaling=scaling,
        norm_eps=float(get("attention.layer_norm_rms_epsilon")),
        tie_embeddings=not has_output,
    )


def gguf_name_map(c: LlamaConfig) -> list[Tensor]:
    names = [rename("tok_emb.weight", "token_embd.weight"), rename("norm.weight", "output_norm.weight")]
    if not c.tie_embeddings:
        names.append(rename("lm_head.weight", "output.weight"))
    for i in range(c.n_layers):
        ours, g = f"blocks.{i}.", f"blk.{i}."
        names += [
            rename(ours + "norm1.weight", g + "attn_norm.weight"),
            Tensor(ours + "attn.qkv.weight", (g + "attn_q.weight", g + "attn_k.weight", g + "attn_v.weight")),
            rename(ours + "attn.proj.weight", g + "attn_output.weight"),
            rename(ours + "norm2.weight", g + "ffn_norm.weight"),
            Tensor(ours + "mlp.gate_up.weight", (g + "ffn_gate.weight", g + "ffn_up.weight")),
            rename(ours + "mlp.down.weight", g + "ffn_down.weight"),
        ]
    return names


def gpt2_config_from_gguf(meta: dict[str, Any], tied: bool) -> GPTConfig:
    def get(key: str) -> Any:
        return meta[f"gpt2.{key}"]

    return GPTConfig(vocab_size=len(meta["tokenizer.ggml.tokens"]), context_length=int(get("context_length")),
                     d_model=int(get("embedding_length")), n_layers=int(get("block_count")),
                     n_heads=int(get("attention.head_count")), d_mlp=int(get("feed_forward_length")),
                     layer_norm_eps=float(get("attention.layer_norm_epsilon")), tie_embeddings=tied)


def gguf_gpt2_name_map(c: GPTConfig) -> list[Tensor]:
    """lmforge GPT <-> llama.cpp ``gpt2`` tensors: renames only (GGUF keeps ``nn.Linear``'s (out, in) rows)."""
    names = [rename("tok_emb.weight", "token_embd.weight"), rename("pos_emb.table.weight", "position_embd.weight"),
             rename("norm.weight", "output_norm.weight"), rename("norm.bias", "output_norm.bias")]
    if not c.tie_embeddings:
        names.append(rename("lm_head.weight", "output.weight"))
    pairs = [("norm1", "attn_norm"), ("attn.qkv", "attn_qkv"), ("attn.proj", "attn_output"), ("norm2", "ffn_norm"),
             ("mlp.up", "ffn_up"), ("mlp.down", "ffn_down")]
    for i in range(c.n_layers):
        names += [rename(f"blocks.{i}.{ours}.{p}", f"blk.{i}.{g}.{p}") for ours, g in pairs for p in ("weight", "bias")]
    return names


def permute_rows(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """lmforge/HF q or k rows -> llama.cpp's order (the inverse of :func:`unpermute_rows`)."""
    out_dim = w.shape[0]
    return w.reshape(n_heads, 2, out_dim // n_heads // 2, *w.shape[1:]).transpose(1, 2).reshape(w.shape)


def unpermute_rows(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Undo llama.cpp's q/k row order: within each head, rows (0, 1, 2, 3, ...) hold pairs
    (x0, x1), (x2, x3)...; HF wants all first elements, then all second elements."""
    out_dim = w.shape[0]
    return w.reshape(n_heads, out_dim // n_heads // 2, 2, *w.shape[1:]).transpose(1, 2).reshape(w.shape)


def _gguf_tensors(reader) -> dict[str, torch.Tensor]:
    """Every tensor of the file, dequantized to fp32, in ``nn.Linear`` (rows, cols) order."""
    import gguf

    tensors = {}
    for t in reader.tensors:
        array = gguf.quants.dequantize(t.data, t.tensor_type)  # (rows, cols): numpy order is GGUF's reversed
        tensors[t.name] = torch.from_numpy(np.array(array, dtype=np.float32))  # a writable copy
    return tensors


def load_gguf_model(path: str | Path, reader=None) -> tuple[Llama | GPT, dict[str, Any]]:
    """Read a ``llama`` or ``gpt2`` GGUF into an lmforge model (fp32). Returns the model and the metadata."""
    path = Path(path)
    reader = reader or _reader(path)
    meta = _metadata(reader)
    if meta.get("general.architecture") != "gpt2":
        return load_gguf_llama(path, reader)
    tensors = _gguf_tensors(reader)
    meta["tokenizer.ggml.tokens"] = reader.fields["tokenizer.ggml.tokens"].contents()
    output = tensors.get("output.weight")
    tied = output is None or torch.equal(output, tensors["token_embd.weight"])  # llama.cpp's gpt2 stores both
    model = GPT(gpt2_config_from_gguf(meta, tied))
    load_state(model, from_hf_state(tensors, gguf_gpt2_name_map(model.config), str(path)), str(path))
    return model.eval(), meta


def load_gguf_llama(path: str | Path, reader=None) -> tuple[Llama, dict[str, Any]]:
    """Read a Llama GGUF into an lmforge :class:`Llama` (fp32). Returns the model and the metadata.

    ``reader``: an already open ``gguf.GGUFReader`` for ``path`` (parsing the header takes seconds)."""
    path = Path(path)
    reader = reader or _reader(path)
    meta = _metadata(reader)
    config = config_from_gguf(meta, "output.weight" in {t.name for t in reader.tensors}, str(path))
    tensors = _gguf_tensors(reader)
    for i in range(config.n_layers):
        tensors[f"blk.{i}.attn_q.weight"] = unpermute_rows(tensors[f"blk.{i}.attn_q.weight"], config.n_heads)
        tensors[f"blk.{i}.attn_k.weight"] = unpermute_rows(tensors[f"blk.{i}.attn_k.weight"], config.n_kv_heads)
    model = Llama(config)
    load_state(model, from_hf_state(tensors, gguf_name_map(config), str(path)), str(path))
    return model.eval(), meta


def gguf_tokenizer_files(path: str | Path, out_dir: str | Path, reader=None) -> None:
    """Write ``tokenizer.json`` (byte-level BPE) + ``tokenizer_config.json`` (specials, chat template)."""
    path, out_dir = Path(path), Path(out_dir)
    reader = reader or _reader(path)
    meta = _metadata(reader)
    if meta.get("tokenizer.ggml.model") != "gpt2":
        raise ConfigError(f"{path}: tokenizer model {meta.get('tokenizer.ggml.model')!r} is not supported "
                          "(only byte-level BPE, 'gpt2')")
    tokens = reader.fields["tokenizer.ggml.tokens"].contents()
    types = reader.fields["tokenizer.ggml.token_type"].contents()
    merges = [tuple(m.split(" ")) for m in reader.fields["tokenizer.ggml.merges"].contents()]
    specials = {tok: i for i, (tok, kind) in enumerate(zip(tokens, types, strict=True))
                if kind in (CONTROL, USER_DEFINED)}
    vocab = {tok: i for i, tok in enumerate(tokens)}
    doc = tokenizer_json(bpe_model_json(vocab, merges), specials, BYTE_LEVEL, BYTE_LEVEL)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "tokenizer.json", doc)

    def token(key: str) -> str | None:
        i = meta.get(f"tokenizer.ggml.{key}_token_id")
        return tokens[i] if i is not None else None

    tok_config = {"bos_token": token("bos"), "eos_token": token("eos"), "unk_token": token("unknown"),
                  "pad_token": token("padding"), "add_bos_token": bool(meta.get("tokenizer.ggml.add_bos_token")),
                  "chat_template": meta.get("tokenizer.chat_template"),
                  "tokenizer_class": "PreTrainedTokenizerFast"}
    write_json(out_dir / "tokenizer_config.json", {k: v for k, v in tok_config.items() if v is not None})


def import_gguf(path: str | Path, out_dir: str | Path) -> Llama | GPT:
    """GGUF -> lmforge model directory (config.json, model.safetensors, tokenizer.json, tokenizer_config.json)."""
    reader = _reader(Path(path))
    model, _ = load_gguf_model(path, reader)
    save_model(model, out_dir)
    gguf_tokenizer_files(path, out_dir, reader)
    return model
