"""``lmforge sample --draft``: speculative decoding from the command line gives the plain command's greedy text."""

import torch

from lmforge.cli.main import run
from lmforge.models.llama import Llama, LlamaConfig
from lmforge.models.registry import save_model
from lmforge.tokenizers import train_tokenizer


def test_sample_with_a_draft_prints_the_same_greedy_text_and_its_acceptance(tmp_path, capsys):
    tokenizer = train_tokenizer("char", "the cat sat on the mat. the dog sat on the log.\n")
    torch.manual_seed(0)
    save_model(Llama(LlamaConfig(vocab_size=tokenizer.vocab_size, context_length=64, d_model=32, n_layers=2,
                                 n_heads=4, n_kv_heads=2, d_mlp=64)), tmp_path)
    tokenizer.save(tmp_path / "tokenizer.json")
    common = ["sample", str(tmp_path), "--prompt", "the cat sat on the", "--max-tokens", "16", "--temperature", "0"]
    assert run(common) == 0
    plain = capsys.readouterr().out
    for draft in ("ngram", "layers:1"):
        assert run([*common, "--draft", draft, "--draft-k", "3"]) == 0
        out = capsys.readouterr()
        assert out.out == plain and "draft:" in out.err and "model passes" in out.err
    assert run([*common, "--draft", "layers:one"]) == 2
    assert "expected ngram, ngram:N, ngram:N:M, layers:N" in capsys.readouterr().err
