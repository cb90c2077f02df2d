"""Masking statistics and formats of the pretraining objectives (all seeded)."""

from __future__ import annotations

import pytest
import torch

from lmforge.errors import ConfigError
from lmforge.objectives.masking import (
    IGNORE,
    SpecialIds,
    mlm_mask,
    random_spans_noise_mask,
    span_corrupt,
    span_counts,
)
from lmforge.objectives.mlm import make_pairs, mlm_nsp_corruption
from lmforge.objectives.span import span_corruption

V = 1000  # text vocabulary in these tests
SPECIAL = SpecialIds(V, n_sentinels=8)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_special_ids_follow_the_text_vocab():
    assert (SPECIAL.pad, SPECIAL.cls, SPECIAL.sep, SPECIAL.mask) == (V, V + 1, V + 2, V + 3)
    assert [SPECIAL.sentinel(k) for k in (0, 7)] == [V + 4, V + 11]
    assert SPECIAL.vocab_size == V + 12
    with pytest.raises(ConfigError, match="only 8 are reserved"):
        SPECIAL.sentinel(8)


def test_mlm_mask_15_percent_split_80_10_10():
    ids = torch.randint(0, V, (400, 500), generator=gen(1))
    maskable = torch.ones_like(ids, dtype=torch.bool)
    maskable[:, :50] = False  # e.g. [CLS]/[SEP] positions
    inputs, labels = mlm_mask(ids, SPECIAL.mask, V, gen(2), maskable)
    selected = labels != IGNORE
    assert not selected[:, :50].any()
    assert selected[:, 50:].float().mean().item() == pytest.approx(0.15, abs=0.003)
    assert torch.equal(labels[selected], ids[selected])
    assert torch.equal(inputs[~selected], ids[~selected])  # unselected tokens are untouched
    n = selected.sum().item()
    to_mask = (inputs[selected] == SPECIAL.mask).sum().item() / n
    unchanged = (inputs[selected] == ids[selected]).sum().item() / n
    random = 1 - to_mask - unchanged
    assert to_mask == pytest.approx(0.8, abs=0.01)
    assert unchanged == pytest.approx(0.1 + 0.1 / V, abs=0.01)  # a random draw can hit the original
    assert random == pytest.approx(0.1, abs=0.01)
    assert inputs[selected & (inputs != SPECIAL.mask)].max() < V  # random ids are ordinary tokens


def test_mlm_mask_is_seeded():
    ids = torch.randint(0, V, (4, 64), generator=gen(0))
    a = mlm_mask(ids, SPECIAL.mask, V, gen(5))
    b = mlm_mask(ids, SPECIAL.mask, V, gen(5))
    c = mlm_mask(ids, SPECIAL.mask, V, gen(6))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a[1], c[1])
    with pytest.raises(ConfigError, match="probability"):
        mlm_mask(ids, SPECIAL.mask, V, gen(0), prob=1.5)


def test_nsp_pairs_format_and_balance():
    windows = torch.randint(0, V, (2000, 29), generator=gen(3))
    ids, types, nsp = make_pairs(windows, SPECIAL, gen(4))
    assert ids.shape == types.shape == (2000, 32)
    assert (ids[:, 0] == SPECIAL.cls).all() and (ids[:, -1] == SPECIAL.sep).all()
    assert ((ids == SPECIAL.sep).sum(1) == 2).all()
    assert nsp.float().mean().item() == pytest.approx(0.5, abs=0.03)
    donor = windows.roll(1, dims=0)
    for row in range(50):
        mid = int((ids[row] == SPECIAL.sep).nonzero()[0])
        a, b = ids[row, 1:mid], ids[row, mid + 1 : -1]
        assert types[row, : mid + 1].eq(0).all() and types[row, mid + 1 :].eq(1).all()
        assert torch.equal(a, windows[row, : len(a)])  # A is the start of the window
        source = donor if nsp[row] else windows  # B continues A, or comes from another window
        assert torch.equal(b, source[row, len(a) :])


def test_mlm_nsp_batches_never_mask_specials():
    inputs, types, labels, nsp = mlm_nsp_corruption(SPECIAL)(torch.randint(0, V, (64, 61), generator=gen(0)), gen(1))
    specials = (inputs == SPECIAL.cls) | (inputs == SPECIAL.sep)
    assert not (labels[specials] != IGNORE).any()
    assert (labels != IGNORE).float().mean().item() == pytest.approx(0.15 * 61 / 64, abs=0.02)


def test_span_noise_mask_counts_and_mean_length():
    span_lengths = []
    for seed in range(200):
        mask = random_spans_noise_mask(100, gen(seed))
        assert int(mask.sum()) == 15 and not mask[0]  # exactly 15% noise; the text starts with a kept span
        runs = torch.unique_consecutive(mask, return_counts=True)
        noise_runs = runs[1][runs[0]].tolist()
        assert len(noise_runs) == span_counts(100)[1] == 5
        span_lengths += noise_runs
    assert sum(span_lengths) / len(span_lengths) == pytest.approx(3.0)
    assert len(set(span_lengths)) > 3  # random lengths, not all 3
    assert not torch.equal(random_spans_noise_mask(100, gen(0)), random_spans_noise_mask(100, gen(1)))


def test_span_corrupt_format_round_trips():
    sentinels = [SPECIAL.sentinel(k) for k in range(8)]
    for seed in range(20):
        ids = torch.randint(0, V, (64,), generator=gen(seed))
        mask = random_spans_noise_mask(64, gen(100 + seed))
        inputs, targets = span_corrupt(ids, mask, sentinels)
        n_noise, n_spans = span_counts(64)
        assert len(inputs) == 64 - n_noise + n_spans and len(targets) == n_noise + n_spans + 1
        assert inputs[inputs >= V].tolist() == sentinels[:n_spans]  # sentinels in order, one per span
        assert targets[targets >= V].tolist() == sentinels[: n_spans + 1]
        # put the target spans back where their sentinels are: the original text
        spans, current = {}, None
        for t in targets.tolist():
            if t >= V:
                current = t
                spans[current] = []
            else:
                spans[current].append(t)
        restored = [tok for t in inputs.tolist() for tok in (spans[t] if t >= V else [t])]
        assert restored == ids.tolist()


def test_span_batches_shift_decoder_inputs():
    special = SpecialIds(V, n_sentinels=span_counts(40)[1] + 1)
    inputs, dec_in, targets = span_corruption(special, special.pad)(torch.randint(0, V, (8, 40), generator=gen(0)),
                                                                    gen(1))
    assert inputs.shape == (8, 40 - 6 + 2) and targets.shape == dec_in.shape == (8, 6 + 2 + 1)
    assert (dec_in[:, 0] == special.pad).all() and torch.equal(dec_in[:, 1:], targets[:, :-1])
    with pytest.raises(ConfigError, match="need 3 sentinels"):
        span_corrupt(torch.arange(40), random_spans_noise_mask(40, gen(0)), [V, V + 1])
