"""The one encoder-decoder decoder (infer.seq2seq) drives both the RNN seq2seq and T5."""

import pytest
import torch

from lmforge.infer.seq2seq import beam_search, greedy_decode
from lmforge.models.seq2seq import Seq2Seq, Seq2SeqConfig
from lmforge.models.t5 import T5, T5Config

SOURCES = [[5, 9, 12, 7, 30], [8, 4], [11, 22, 6, 19, 25, 14, 10]]


def rnn() -> Seq2Seq:
    torch.manual_seed(0)
    return Seq2Seq(Seq2SeqConfig(src_vocab_size=40, tgt_vocab_size=40, emb_dim=16, hidden_size=24, dropout=0.0,
                                 max_target_len=9)).eval()


def t5() -> T5:
    torch.manual_seed(0)
    model = T5(T5Config(vocab_size=40, d_model=32, d_head=8, d_mlp=48, n_layers=2, n_heads=4, relative_buckets=8,
                        relative_max_distance=16, dropout=0.0, pad_id=0, decoder_start_id=2)).eval()
    with torch.no_grad():
        model.tok_emb.weight.mul_(3.0)  # sharper distributions, so outputs vary and some end early
    return model


def padded(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    src = torch.zeros(len(rows), max(map(len, rows)), dtype=torch.long)
    for i, row in enumerate(rows):
        src[i, : len(row)] = torch.tensor(row)
    return src, torch.tensor([len(row) for row in rows])


@pytest.mark.parametrize("make", [rnn, t5], ids=["rnn", "t5"])
def test_greedy_is_beam_of_one_and_batched_equals_alone(make):
    model = make()
    src, lens = padded(SOURCES)
    eos = greedy_decode(model, src, lens, None, max_len=9)[0].tokens[2]  # a word the first sentence does write
    together = greedy_decode(model, src, lens, eos, max_len=9)
    assert together[0].finished and len(together[0].tokens) <= 2  # so early ends are exercised
    for row, hyp in zip(SOURCES, together, strict=True):
        alone = greedy_decode(model, torch.tensor([row]), torch.tensor([len(row)]), eos, max_len=9)[0]
        beam = beam_search(model, torch.tensor([row]), eos, max_len=9, beam_size=1)[0]
        for other in (alone, beam):
            assert (other.tokens, other.finished) == (hyp.tokens, hyp.finished)
            assert other.log_prob == pytest.approx(hyp.log_prob, abs=1e-4)
        wide = beam_search(model, torch.tensor([row]), eos, max_len=9, beam_size=4)
        assert wide[0].log_prob >= hyp.log_prob - 1e-4  # a wider beam finds the greedy answer or a likelier one


def test_t5_greedy_is_the_argmax_at_every_step_with_the_kv_cache():
    """The reference: run the decoder over the whole prefix (no cache) and take the argmax, step by step."""
    model = t5()
    src, lens = padded(SOURCES)
    mask = (src != 0).long()
    hyps = greedy_decode(model, src, lens, None, max_len=6)
    prefix = torch.full((len(SOURCES), 1), model.config.decoder_start_id)
    with torch.no_grad():
        for _ in range(6):
            logits = model(src, prefix, mask)[:, -1]  # (B, V)
            prefix = torch.cat([prefix, logits.argmax(-1, keepdim=True)], dim=1)
    assert [h.tokens for h in hyps] == prefix[:, 1:].tolist()


def test_the_length_limit_can_depend_on_the_source():
    model = rnn()
    src, lens = padded(SOURCES)
    hyps = greedy_decode(model, src, lens, eos_id=None, max_len=lambda n: n + 1)
    assert [len(h.tokens) for h in hyps] == [len(row) + 1 for row in SOURCES]
    assert not any(h.finished for h in hyps)
