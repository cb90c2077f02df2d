"""Speculative decoding: greedy output equals the target's, and the accept/reject rule keeps p."""

import dataclasses

import pytest
import torch

from lmforge.errors import LmforgeError
from lmforge.infer.engine import GenerationEngine
from lmforge.infer.sampling import SamplingConfig
from lmforge.infer.speculative import accept_or_resample, first_layers_draft, speculative_generate
from lmforge.models.llama import Llama, LlamaConfig

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


def test_a_draft_must_be_shallower_and_penalties_are_refused(target):
    with pytest.raises(LmforgeError, match="1 to 3 layers"):
        first_layers_draft(target, 4)
    with pytest.raises(LmforgeError, match="penalties"):
        speculative_generate(target, first_layers_draft(target, 1), [1], SamplingConfig(repetition_penalty=1.2))

    windowed = Llama(dataclasses.replace(target.config, sliding_window=4)).eval()
    with pytest.raises(LmforgeError, match="SlidingWindowCache"):  # it cannot be cut back after a rejection
        speculative_generate(windowed, first_layers_draft(windowed, 1), [1],
                             SamplingConfig(max_new_tokens=8, temperature=0))
