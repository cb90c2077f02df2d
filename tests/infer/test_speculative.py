"""Speculative decoding: greedy output equals the target's, and the accept/reject rule keeps p."""

import dataclasses

import pytest
import torch

from lmforge.errors import LmforgeError
from lmforge.infer.engine import GenerationEngine
from lmforge.infer.sampling import SamplingConfig
from lmforge.infer.speculative import (
    NgramDraft,
    SpeculativeEngine,
    accept_or_resample,
    first_layers_draft,
    make_draft,
    speculative_generate,
)
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.llama import Llama, LlamaConfig
from lmforge.models.registry import save_model

PROMPTS = [[1, 2, 3, 4], [7], [9, 30, 31, 2, 2, 40], [20] * 6]


@pytest.fixture(scope="module")
def target():
    torch.manual_seed(0)
    model = Llama(LlamaConfig(vocab_size=50, context_length=96, d_model=32, n_layers=4, n_heads=4, n_kv_heads=2,
                              d_mlp=64))
    with torch.no_grad():  # larger matrices than the 0.02 init (norms kept), so greedy output is varied
        for p in model.parameters():
            if p.dim() >= 2:
                p.normal_(0, 0.3)
    return model.eval()


@pytest.mark.parametrize("k", [1, 3])
def test_greedy_speculative_output_is_the_targets_own(target, k):
    greedy = SamplingConfig(max_new_tokens=30, temperature=0, stop_tokens=frozenset({49}))
    draft = first_layers_draft(target, 2)
    rates = []
    for prompt in PROMPTS:
        out, stats = speculative_generate(target, draft, prompt, greedy, k)
        assert out == GenerationEngine(target).generate(prompt, greedy)
        rates.append(stats.acceptance_rate)
    assert min(rates) > 0 and max(rates) < 1  # the draft is right sometimes, not always: both paths ran
    same, stats = speculative_generate(target, target, PROMPTS[0], greedy, k)  # a perfect draft
    assert stats.acceptance_rate == 1.0 and stats.target_passes == -(-len(same) // (k + 1))


def test_accept_or_resample_keeps_the_target_distribution():
    """Draft tokens drawn from q, passed through the rule: the kept-or-redrawn tokens follow p."""
    p = torch.tensor([0.5, 0.3, 0.15, 0.05])
    q = torch.tensor([0.1, 0.2, 0.3, 0.4])
    generator = torch.Generator().manual_seed(0)
    n = 20_000
    proposals = torch.multinomial(q, n, replacement=True, generator=generator).tolist()
    counts = torch.zeros(4)
    for x in proposals:
        counts[accept_or_resample(p, q, x, generator)[0]] += 1
    expected = p * n
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 16.3  # 3 degrees of freedom, p-value 0.001
    naive = torch.bincount(torch.tensor(proposals), minlength=4).float()  # the draft alone: far from p
    assert float(((naive - expected) ** 2 / expected).sum()) > 1000


def test_ngram_lookup_proposes_what_followed_the_latest_longest_match():
    draft = NgramDraft(max_ngram=3)
    assert draft.lookup([1, 2, 3, 9, 4, 1, 2, 3], 2) == [9, 4]  # the 3-gram 1 2 3 seen before
    assert draft.lookup([5, 1, 7, 5, 1, 8, 5, 1], 2) == [8, 5]  # 2-gram 5 1: the latest earlier occurrence
    assert draft.lookup([4, 6, 4, 2, 6], 5) == [4, 2, 6]  # only a 1-gram matches: what followed it, to the end
    assert make_draft(None, "ngram:3:2").lookup([4, 6, 4, 2, 6], 5) == []  # single tokens not used
    assert draft.lookup([1, 2, 3], 4) == [] and draft.lookup([7], 4) == []


@pytest.mark.parametrize("k", [2, 5])
def test_greedy_output_with_the_ngram_draft_is_the_targets_own(target, k):
    greedy = SamplingConfig(max_new_tokens=30, temperature=0, stop_tokens=frozenset({49}))
    proposed = accepted = 0
    for prompt in [*PROMPTS, [3, 8, 5, 3, 8, 5, 3, 8]]:
        out, stats = speculative_generate(target, NgramDraft(), prompt, greedy, k)
        assert out == GenerationEngine(target).generate(prompt, greedy)
        proposed, accepted = proposed + stats.proposed, accepted + stats.accepted
    assert 0 < accepted < proposed  # both paths ran: proposals kept, and proposals rejected


def test_a_certain_proposal_is_kept_with_probability_p_and_the_rest_follows_p():
    """A deterministic draft (q one-hot, given as None): keep x with probability p(x), else draw from p without x."""
    p = torch.tensor([0.5, 0.3, 0.15, 0.05])
    generator = torch.Generator().manual_seed(0)
    n = 20_000
    counts = torch.zeros(4)
    for _ in range(n):
        counts[accept_or_resample(p, None, 2, generator)[0]] += 1
    expected = p * n
    assert float(((counts - expected) ** 2 / expected).sum()) < 16.3  # 3 degrees of freedom, p-value 0.001


def test_the_speculative_engine_streams_like_the_plain_one_and_drafts_come_from_a_spec(target, tmp_path):
    greedy = SamplingConfig(max_new_tokens=20, temperature=0, top_logprobs=2)
    engine = SpeculativeEngine(target, make_draft(target, "ngram:2"), k=3)
    for prompt in PROMPTS:
        fast, plain = list(engine.stream(prompt, greedy)), list(GenerationEngine(target).stream(prompt, greedy))
        assert [t.id for t in fast] == [t.id for t in plain]
        assert [t.logprob for t in fast] == pytest.approx([t.logprob for t in plain], abs=1e-4)
        assert [t.top[1][0] for t in fast] == [t.top[1][0] for t in plain]
    assert engine.stats.target_passes < len(PROMPTS) * 20  # some rounds gave more than one token
    layers = make_draft(target, "layers:2")
    assert len(layers.model.blocks) == 2 and layers.model.lm_head is target.lm_head
    save_model(Llama(dataclasses.replace(target.config, n_layers=1)), tmp_path / "small")
    assert make_draft(target, str(tmp_path / "small")).model.config.n_layers == 1
    save_model(GPT(GPTConfig(vocab_size=60, context_length=32, d_model=16, n_layers=1, n_heads=2)), tmp_path / "other")
    with pytest.raises(LmforgeError, match="target's vocabulary"):
        make_draft(target, str(tmp_path / "other"))
    with pytest.raises(LmforgeError, match="layers:N"):
        make_draft(target, "layers:two")


def test_a_draft_must_be_shallower_and_penalties_are_refused(target):
    with pytest.raises(LmforgeError, match="1 to 3 layers"):
        first_layers_draft(target, 4)
    with pytest.raises(LmforgeError, match="penalties"):
        speculative_generate(target, first_layers_draft(target, 1), [1], SamplingConfig(repetition_penalty=1.2))

    windowed = Llama(dataclasses.replace(target.config, sliding_window=4)).eval()
    with pytest.raises(LmforgeError, match="SlidingWindowCache"):  # it cannot be cut back after a rejection
        speculative_generate(windowed, first_layers_draft(windowed, 1), [1],
                             SamplingConfig(max_new_tokens=8, temperature=0))
