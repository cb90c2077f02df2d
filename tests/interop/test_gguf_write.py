"""GGUF export: a tiny GPT-2 or Llama written with ``lmforge export --format gguf`` reads back through
``import-gguf`` with identical logits (f32), close ones (f16, q8_0, q4_1); llama.cpp itself (optional extra)
decodes the same greedy tokens as lmforge."""

import dataclasses

import pytest
import torch

from lmforge.cli.main import run
from lmforge.interop.gguf import import_gguf
from lmforge.models.bert import Bert, BertConfig
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.llama import Llama, LlamaConfig
from lmforge.models.registry import save_model
from lmforge.tokenizers import CharTokenizer
from lmforge.tokenizers.bpe import ByteLevelBPE

TEXT = "The quick brown fox jumps over the lazy dog. A lazy dog sleeps while the quick fox runs. " * 4


def tiny_gpt(vocab: int) -> GPT:
    return GPT(GPTConfig(vocab_size=vocab, context_length=64, d_model=64, n_layers=2, n_heads=4))


def tiny_llama(vocab: int, tied: bool) -> Llama:
    return Llama(LlamaConfig(vocab_size=vocab, context_length=64, d_model=64, n_layers=2, n_heads=4, n_kv_heads=2,
                             d_mlp=96, tie_embeddings=tied, rope_theta=10000.0, norm_eps=1e-5))


MODELS = {"gpt2": tiny_gpt, "llama-tied": lambda v: tiny_llama(v, True), "llama": lambda v: tiny_llama(v, False)}


@pytest.fixture(scope="module")
def bpe() -> ByteLevelBPE:
    return ByteLevelBPE.train(TEXT, 300)


def model_dir(tmp_path, bpe, name: str):
    torch.manual_seed(0)
    model = MODELS[name](bpe.vocab_size).eval()
    save_model(model, tmp_path / name)
    bpe.save(tmp_path / name / "tokenizer.json")
    return model, tmp_path / name


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("tensor_type,tolerance", [("f32", 0.0), ("f16", 2e-3), ("q8_0", 2e-2), ("q4_1", 0.2)])
def test_export_then_import_gives_the_same_logits(tmp_path, bpe, name, tensor_type, tolerance):
    model, directory = model_dir(tmp_path, bpe, name)
    gguf_path = tmp_path / f"{name}.gguf"
    assert run(["export", str(directory), "--format", "gguf", "--type", tensor_type, "--out", str(gguf_path)]) == 0
    back = import_gguf(gguf_path, tmp_path / "back").eval()
    assert back.family == model.family and back.config.tie_embeddings == model.config.tie_embeddings
    ids = torch.tensor([bpe.encode("The quick brown fox")])
    with torch.no_grad():
        want, got = model(ids), back(ids)
    if tolerance == 0.0:
        assert torch.equal(got, want)
    else:
        assert (got - want).abs().max() <= tolerance * want.abs().max()
    assert bpe.encode(TEXT) == ByteLevelBPE.load(tmp_path / "back" / "tokenizer.json").encode(TEXT)


def test_unsupported_models_are_refused_in_one_line(tmp_path, bpe, capsys):
    save_model(Bert(BertConfig(vocab_size=40, d_model=32, n_layers=1, n_heads=2, d_mlp=64)), tmp_path / "bert")
    assert run(["export", str(tmp_path / "bert"), "--format", "gguf", "--out", str(tmp_path / "b.gguf")]) == 2
    assert "a 'bert' model cannot be exported to GGUF" in capsys.readouterr().err
    char = CharTokenizer.train(TEXT)
    save_model(tiny_gpt(char.vocab_size), tmp_path / "char")
    char.save(tmp_path / "char" / "tokenizer.json")
    assert run(["export", str(tmp_path / "char"), "--format", "gguf", "--out", str(tmp_path / "c.gguf")]) == 2
    err = capsys.readouterr().err
    assert "needs a byte-level BPE tokenizer.json" in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.glob("*.gguf")) and not list(tmp_path.glob(".*.gguf*"))


@pytest.mark.parametrize("option", [{"sliding_window": 8}, {"parallel_block": True}])
def test_llama_options_llama_cpp_would_ignore_are_refused_by_name(tmp_path, bpe, capsys, option):
    save_model(Llama(dataclasses.replace(tiny_llama(bpe.vocab_size, True).config, **option)), tmp_path / "m")
    bpe.save(tmp_path / "m" / "tokenizer.json")
    assert run(["export", str(tmp_path / "m"), "--format", "gguf", "--out", str(tmp_path / "m.gguf")]) == 2
    err = capsys.readouterr().err
    assert next(iter(option)) in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.glob("*.gguf"))


@pytest.mark.optional_extra("llama-cpp-python", module="llama_cpp", why="compiles llama.cpp, ~6.5 min on 2 cores")
@pytest.mark.parametrize("name", list(MODELS))
def test_llama_cpp_decodes_the_same_greedy_tokens(tmp_path, bpe, name):
    from llama_cpp import Llama as LlamaCpp

    from lmforge.infer.engine import GenerationEngine
    from lmforge.infer.sampling import SamplingConfig

    model, directory = model_dir(tmp_path, bpe, name)
    prompt = bpe.encode("The quick brown fox")
    ours = GenerationEngine(model).generate(prompt, SamplingConfig(max_new_tokens=24, temperature=0))
    agreement = {}
    for tensor_type in ("f32", "f16", "q8_0"):
        path = tmp_path / f"{tensor_type}.gguf"
        assert run(["export", str(directory), "--format", "gguf", "--type", tensor_type, "--out", str(path)]) == 0
        llm = LlamaCpp(str(path), n_ctx=64, n_threads=1, verbose=False)
        theirs = []
        for token in llm.generate(prompt, top_k=1, temp=0.0, repeat_penalty=1.0, reset=True):
            theirs.append(token)
            if len(theirs) == len(ours):
                break
        agreement[tensor_type] = next((i for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b),
                                      len(ours))
    print(f"{name}: greedy tokens equal to lmforge's for the first {agreement} of {len(ours)}")
    assert agreement["f32"] == agreement["f16"] == len(ours), agreement
