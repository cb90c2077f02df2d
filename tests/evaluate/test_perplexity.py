"""Sliding-window perplexity equals the plain transformers computation (the HF guide's loop) on an
exported model, scores every token once, and reaches the CLI with one-line errors."""

import math
import string

import pytest
import torch

from lmforge.cli.main import run
from lmforge.evaluate.perplexity import sliding_window_perplexity, windows
from lmforge.interop.hf_gpt2 import export_hf_gpt2
from lmforge.models.bert import Bert, BertConfig
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.registry import save_model
from lmforge.tokenizers import train_tokenizer

CONTEXT = 16


def _gpt(vocab_size: int = 97) -> GPT:
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=vocab_size, context_length=CONTEXT, d_model=32, n_layers=2, n_heads=4))
    with torch.no_grad():  # weights larger than the 0.02 init, so losses differ clearly from ln(V)
        for p in model.parameters():
            p.normal_(0, 0.3)
    return model.eval()


def _hf_reference(hf, ids: torch.Tensor, max_length: int, stride: int) -> tuple[float, int]:
    """The loop of HF's "Perplexity of fixed-length models" guide: labels -100 before the new tokens."""
    nll_sum, n_tokens, prev_end = 0.0, 0, 0
    for begin in range(0, ids.numel(), stride):
        end = min(begin + max_length, ids.numel())
        trg_len = end - prev_end
        input_ids = ids[begin:end][None]
        target_ids = input_ids.clone()
        target_ids[:, :-trg_len] = -100
        with torch.no_grad():
            loss = hf(input_ids, labels=target_ids).loss
        n_valid = int((target_ids[:, 1:] != -100).sum())  # the predictions loss averages (HF shifts labels)
        nll_sum += loss.item() * n_valid
        n_tokens += n_valid
        prev_end = end
        if end == ids.numel():
            break
    return nll_sum, n_tokens


@pytest.mark.parametrize("stride", [CONTEXT, 5, 1])
def test_equals_transformers_on_an_exported_gpt2(tmp_path, stride):
    transformers = pytest.importorskip("transformers")
    model = _gpt()
    export_hf_gpt2(model, tmp_path, eos_id=0)
    hf = transformers.GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    ids = torch.randint(0, 97, (61,), generator=torch.Generator().manual_seed(1))
    ours = sliding_window_perplexity(model, ids, n_bytes=200, context_length=CONTEXT, stride=stride, batch_size=3)
    nll_sum, n_tokens = _hf_reference(hf, ids, CONTEXT, stride)
    assert ours.n_tokens == n_tokens == (60 if stride < CONTEXT else 61 - 4)  # no overlap: 4 window starts unscored
    assert ours.nats_per_token == pytest.approx(nll_sum / n_tokens, abs=1e-4)
    assert ours.bits_per_byte == pytest.approx(nll_sum / math.log(2) / 200, abs=1e-4)


@pytest.mark.parametrize(("n", "context", "stride"), [(2, 4, 4), (50, 16, 16), (50, 16, 7), (51, 8, 1), (9, 16, 3)])
def test_windows_score_every_token_once_with_enough_context(n, context, stride):
    scored = []
    for w in windows(n, context, stride):
        assert w.end - w.begin <= context
        assert w.first_target - w.begin >= min(context - stride, w.first_target)  # context before each target
        scored += range(w.first_target, w.end)
    starts = {w.begin for w in windows(n, context, stride)} if stride == context else {0}
    assert scored == [t for t in range(n) if t not in starts]


def test_a_smaller_stride_gives_more_context_and_a_lower_loss_on_a_trained_pattern():
    """A model that has only seen a periodic text predicts it better with more context in each window."""
    class Copy(torch.nn.Module):  # predicts the token 3 back; uniform when it cannot see that far
        def forward(self, ids):  # (B, T) -> (B, T, V)
            logits = torch.zeros(*ids.shape, 5)
            logits[:, 2:].scatter_(-1, ids[:, :-2, None], 10.0)
            return logits

    ids = torch.tensor([0, 1, 2] * 20)  # token t+1 equals token t-2
    coarse = sliding_window_perplexity(Copy(), ids, 60, context_length=6, stride=6)
    fine = sliding_window_perplexity(Copy(), ids, 60, context_length=6, stride=2)
    assert fine.nats_per_token < coarse.nats_per_token


def test_a_uniform_model_costs_log_vocab_per_token_and_bits_per_byte_follow():
    uniform = lambda ids: torch.zeros(*ids.shape, 64)  # noqa: E731  (B, T) -> (B, T, V): every token 1/64
    r = sliding_window_perplexity(uniform, list(range(33)), n_bytes=48, context_length=8, stride=3)
    assert r.nats_per_token == pytest.approx(math.log(64))
    assert r.perplexity == pytest.approx(64)
    assert r.bits_per_byte == pytest.approx(32 * 6 / 48)  # 32 tokens of 6 bits over 48 bytes


def _model_dir(path, model=None):
    tokenizer = train_tokenizer("char", string.printable)
    save_model(model or _gpt(tokenizer.vocab_size), path)
    tokenizer.save(path / "tokenizer.json")
    return path, tokenizer


def test_cli_prints_what_the_library_computes(tmp_path, capsys):
    model_dir, tokenizer = _model_dir(tmp_path / "m")
    text = "To be, or not to be: that is the question.\n" * 3
    (tmp_path / "held_out.txt").write_text(text)
    assert run(["eval", "perplexity", str(model_dir), "--data", str(tmp_path / "held_out.txt"), "--stride", "4"]) == 0
    out = capsys.readouterr().out
    expected = sliding_window_perplexity(_gpt(tokenizer.vocab_size), tokenizer.encode(text), len(text.encode()),
                                         CONTEXT, 4)
    assert f"{expected.nats_per_token:.4f} nats/token" in out and f"{expected.bits_per_byte:.4f} bits/byte" in out
    assert f"({len(text) - 1:,} tokens, {len(text):,} bytes)" in out  # stride < window: every token but the first


def _one_line_error(capsys, *args) -> str:
    assert run([str(a) for a in args]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_cli_refuses_a_model_without_an_lm_head_and_a_text_too_short(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("hello world")
    bert_dir, tokenizer = _model_dir(tmp_path / "bert", Bert(BertConfig(vocab_size=100, context_length=16, d_model=32,
                                                                       n_layers=1, n_heads=2, d_mlp=64)))
    err = _one_line_error(capsys, "eval", "perplexity", bert_dir, "--data", text)
    assert str(bert_dir) in err and "cannot generate text" in err
    gpt_dir, _ = _model_dir(tmp_path / "gpt")
    (tmp_path / "one.txt").write_text("a")
    assert "one.txt" in _one_line_error(capsys, "eval", "perplexity", gpt_dir, "--data", tmp_path / "one.txt")
    assert "stride" in _one_line_error(capsys, "eval", "perplexity", gpt_dir, "--data", text, "--stride", "99")
