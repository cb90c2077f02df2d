"""lmforge GPT / Llama model directory -> one GGUF file that llama.cpp (and ``import-gguf``) loads.

GGUF is llama.cpp's single-file format: key/value metadata (architecture, hyper-parameters, the
whole tokenizer, the chat template) followed by the tensors, each in its own type. Matrices are
written as ``f32``, ``f16`` or one of llama.cpp's block formats, quantized here from the float
weights with the ``gguf`` package:

- ``q8_0``: blocks of 32 values, one fp16 scale each, int8 codes (8.5 bits per weight);
- ``q4_0``: blocks of 32, one fp16 scale, 4-bit codes centred on 8 (4.5 bits);
- ``q4_1``: blocks of 32, fp16 scale and minimum, 4-bit codes (5 bits) — the same rounding as
  lmforge's int4 with group size 32.

Vectors (norms, biases) stay f32, and a matrix whose rows do not split into blocks of 32 falls back
to f16, as llama.cpp's own converter does. The tensor names are the maps in :mod:`lmforge.interop.gguf`,
read the other way; llama.cpp's Llama wants q/k rows in its rotary order (:func:`permute_rows`).
The tokenizer must be byte-level BPE (``tokenizer.json``), the kind llama.cpp calls ``gpt2``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lmforge.errors import ConfigError
from lmforge.interop.gguf import gguf_gpt2_name_map, gguf_name_map, permute_rows
from lmforge.interop.hf_common import to_hf_state
from lmforge.io import read_json
from lmforge.models.registry import load_model, unique_state_dict
from lmforge.tokenizers.gguf import PRE_TOKENIZERS

TENSOR_TYPES = ("f32", "f16", "q8_0", "q4_0", "q4_1")
_CONTROL, _USER_DEFINED, _NORMAL = 3, 4, 1
_PRE_NAMES = ("gpt-2", "smollm", "llama-bpe")  # tokenizer.ggml.pre written for a pre-tokenizer (first match)


def export_gguf(model_dir: str | Path, out: str | Path, tensor_type: str = "f16") -> None:
    """Write ``model_dir`` (a float gpt or llama directory with a byte-level BPE tokenizer.json) as ``out``."""
    import gguf

    model_dir, out = Path(model_dir), Path(out)
    if tensor_type not in TENSOR_TYPES:
        raise ConfigError(f"--type must be one of {TENSOR_TYPES}, got {tensor_type!r}")
    model = load_model(model_dir)
    if getattr(model, "quantization", None):
        raise ConfigError(f"{model_dir} holds {model.quantization['method']} weights; export the float model "
                          f"it was quantized from (GGUF's q8_0/q4_0/q4_1 are written from float weights)")
    arch, tensors = _gguf_tensors(model, str(model_dir))
    writer = gguf.GGUFWriter(None, arch)
    _write_hyperparameters(writer, model)
    _write_tokenizer(writer, model_dir)
    qtype = {"f32": None, "f16": None}.get(tensor_type, gguf.GGMLQuantizationType[tensor_type.upper()])
    writer.add_file_type({"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
                          "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0, "q4_0": gguf.LlamaFileType.MOSTLY_Q4_0,
                          "q4_1": gguf.LlamaFileType.MOSTLY_Q4_1}[tensor_type])
    for name, t in tensors.items():
        array = t.float().numpy()
        if array.ndim == 1 or tensor_type == "f32":
            writer.add_tensor(name, array)
        elif qtype is None or array.shape[-1] % 32:
            writer.add_tensor(name, array.astype(np.float16))
        else:
            writer.add_tensor(name, gguf.quants.quantize(array, qtype), raw_dtype=qtype)
    _write_atomically(writer, out)


def _gguf_tensors(model: torch.nn.Module, source: str) -> tuple[str, dict[str, torch.Tensor]]:
    """(llama.cpp architecture, {GGUF name: tensor}) for a GPT or Llama; other families are refused."""
    state, c = unique_state_dict(model), model.config
    if model.family == "llama":
        if c.rope_scaling is not None or c.attention_bias or c.head_width * c.n_heads != c.d_model:
            raise ConfigError(f"{source}: GGUF export covers plain Llamas (no rope_scaling, attention_bias or "
                              f"custom head_dim)")
        for field, value in (("sliding_window", c.sliding_window), ("parallel_block", c.parallel_block)):
            if value:  # llama.cpp's llama architecture would run another model without a word
                raise ConfigError(f"{source}: GGUF export covers plain Llamas; this one sets {field}={value!r}")
        tensors = to_hf_state(state, gguf_name_map(c), lambda e: _llama_split(c, e.ours))
        for i in range(c.n_layers):
            tensors[f"blk.{i}.attn_q.weight"] = permute_rows(tensors[f"blk.{i}.attn_q.weight"], c.n_heads)
            tensors[f"blk.{i}.attn_k.weight"] = permute_rows(tensors[f"blk.{i}.attn_k.weight"], c.n_kv_heads)
        return "llama", tensors
    if model.family == "gpt":
        if (not c.bias or c.position != "learned" or c.activation != "gelu_tanh" or c.segment_length is not None
                or c.parallel_block):
            raise ConfigError(f"{source}: llama.cpp's gpt2 needs biases, learned positions, tanh-GELU and "
                              f"sequential blocks (this GPT has bias={c.bias}, position={c.position!r}, "
                              f"activation={c.activation!r}, parallel_block={c.parallel_block})")
        tensors = to_hf_state(state, gguf_gpt2_name_map(c))
        if c.tie_embeddings:  # llama.cpp's converter writes GPT-2's tied head out as its own tensor
            tensors["output.weight"] = tensors["token_embd.weight"]
        return "gpt2", tensors
    raise ConfigError(f"{source}: a {model.family!r} model cannot be exported to GGUF (gpt and llama can)")


def _llama_split(c: Any, ours: str) -> list[int]:
    q, kv = c.n_heads * c.head_width, c.n_kv_heads * c.head_width
    return [q, kv, kv] if ".qkv." in ours else [c.d_mlp, c.d_mlp]


def _write_hyperparameters(writer: Any, model: torch.nn.Module) -> None:
    c = model.config
    writer.add_context_length(c.context_length)
    writer.add_embedding_length(c.d_model)
    writer.add_block_count(c.n_layers)
    writer.add_head_count(c.n_heads)
    if model.family == "gpt":
        writer.add_feed_forward_length(c.mlp_width)
        writer.add_layer_norm_eps(c.layer_norm_eps)
        return
    writer.add_feed_forward_length(c.d_mlp)
    writer.add_head_count_kv(c.n_kv_heads)
    writer.add_rope_dimension_count(c.head_width)
    writer.add_rope_freq_base(c.rope_theta)
    writer.add_layer_norm_rms_eps(c.norm_eps)
    writer.add_vocab_size(c.vocab_size)


def _write_tokenizer(writer: Any, model_dir: Path) -> None:
    """The byte-level BPE of ``tokenizer.json`` (+ specials and chat template of tokenizer_config.json)."""
    path = model_dir / "tokenizer.json"
    doc = read_json(path, "tokenizer") if path.is_file() else {}
    bpe = doc.get("model") or {}
    if bpe.get("type") != "BPE" or (doc.get("decoder") or {}).get("type") != "ByteLevel":
        raise ConfigError(f"{model_dir}: GGUF export needs a byte-level BPE tokenizer.json (llama.cpp's 'gpt2' "
                          f"tokenizer); this directory has {bpe.get('type') or 'none'}")
    pre = next((n for n in _PRE_NAMES if PRE_TOKENIZERS[n] == doc.get("pre_tokenizer")), None)
    if pre is None:
        raise ConfigError(f"{path}: pre_tokenizer {doc.get('pre_tokenizer')!r} has no llama.cpp name "
                          f"(known: {', '.join(_PRE_NAMES)})")
    vocab: dict[str, int] = dict(bpe["vocab"])
    added = {t["content"]: t for t in doc.get("added_tokens", [])}
    vocab.update({content: t["id"] for content, t in added.items()})
    tokens = sorted(vocab, key=vocab.__getitem__)
    if [vocab[t] for t in tokens] != list(range(len(tokens))):
        raise ConfigError(f"{path}: token ids are not 0..{len(tokens) - 1} without gaps, which GGUF needs")
    types = [(_CONTROL if added[t].get("special") else _USER_DEFINED) if t in added else _NORMAL for t in tokens]
    merges = [m if isinstance(m, str) else " ".join(m) for m in bpe.get("merges", [])]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    config_path = model_dir / "tokenizer_config.json"
    config = read_json(config_path, "tokenizer config") if config_path.is_file() else {}
    for key, add in (("bos_token", writer.add_bos_token_id), ("eos_token", writer.add_eos_token_id)):
        if isinstance(config.get(key), str) and config[key] in vocab:
            add(vocab[config[key]])
    if "add_bos_token" in config:
        writer.add_add_bos_token(bool(config["add_bos_token"]))
    template = config.get("chat_template")
    if template is None and (model_dir / "chat_template.jinja").is_file():
        template = (model_dir / "chat_template.jinja").read_text(encoding="utf-8")
    if isinstance(template, str):
        writer.add_chat_template(template)


def _write_atomically(writer: Any, out: Path) -> None:
    """Write to a temporary file beside ``out`` and rename it: an interrupted export leaves no half file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    try:
        writer.write_header_to_file(path=Path(tmp))
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(tmp, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
