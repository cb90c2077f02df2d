import pytest
import torch

from lmforge.errors import LmforgeError
from lmforge.infer.detokenize import IncrementalDecoder
from lmforge.infer.engine import GenerationEngine
from lmforge.infer.sampling import SamplingConfig, filter_logits
from lmforge.models.gpt import GPT, GPTConfig


@pytest.fixture(scope="module")
def engine():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=50, context_length=64, d_model=32, n_layers=2, n_heads=4))
    with torch.no_grad():  # larger weights than the 0.02 init, so greedy output is varied, not one repeated id
        for p in model.parameters():
            p.normal_(0, 0.1)
    return GenerationEngine(model)


def test_greedy_with_cache_equals_without(engine):
    outputs = set()
    for prompt in ([1, 2, 3, 4], [7], [9, 30, 31, 2, 2, 40], [49, 0]):
        cached = engine.generate(prompt, SamplingConfig(max_new_tokens=50, temperature=0))
        uncached = engine.generate(prompt, SamplingConfig(max_new_tokens=50, temperature=0, use_cache=False))
        assert cached == uncached
        outputs.update(cached)
    assert len(outputs) > 5  # the comparison is not trivial


def test_cached_step_logits_equal_a_full_forward(engine):
    model = engine.model
    ids = torch.randint(0, 50, (1, 40))
    with torch.no_grad():
        full = model(ids)
        cache = model.new_cache(1)
        steps = [model(ids[:, :10], cache)] + [model(ids[:, i : i + 1], cache) for i in range(10, 40)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)


def test_greedy_continues_past_the_context_window(engine):
    out = engine.generate([1, 2, 3], SamplingConfig(max_new_tokens=150, temperature=0))
    assert len(out) == 150


def test_seeded_sampling_is_reproducible_and_seeds_differ(engine):
    config = SamplingConfig(max_new_tokens=30, temperature=1.0, seed=7)
    assert engine.generate([5], config) == engine.generate([5], config)
    other = SamplingConfig(max_new_tokens=30, temperature=1.0, seed=8)
    assert engine.generate([5], config) != engine.generate([5], other)


def test_stop_token_ends_generation_and_is_not_returned(engine):
    free = engine.generate([1, 2], SamplingConfig(max_new_tokens=40, temperature=0))
    stop = free[10]
    out = engine.generate([1, 2], SamplingConfig(max_new_tokens=40, temperature=0, stop_tokens=frozenset({stop})))
    assert out == free[: free.index(stop)]


def test_streaming_yields_logprobs(engine):
    tokens = list(engine.stream([1], SamplingConfig(max_new_tokens=5, temperature=0)))
    assert all(t.logprob <= 0 for t in tokens)


def test_top_k_keeps_exactly_k():
    logits = torch.tensor([[1.0, 4.0, 3.0, 2.0, 0.0]])
    kept = filter_logits(logits, top_k=2, top_p=None)
    assert torch.isfinite(kept).tolist() == [[False, True, True, False, False]]


def test_top_p_keeps_the_smallest_nucleus():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    kept = torch.isfinite(filter_logits(probs.log(), top_k=None, top_p=0.8)).tolist()
    assert kept == [[True, True, False, False]]  # 0.5 + 0.3 reaches 0.8
    kept = torch.isfinite(filter_logits(probs.log(), top_k=None, top_p=0.81)).tolist()
    assert kept == [[True, True, True, False]]
    kept = torch.isfinite(filter_logits(probs.log(), top_k=None, top_p=0.1)).tolist()
    assert kept == [[True, False, False, False]]  # the top token always survives


def test_sampling_respects_top_k_statistically(engine):
    logits = torch.tensor([[0.0, 0.1, 0.2, 5.0, 5.0]])
    from lmforge.infer.sampling import choose_tokens

    g = torch.Generator().manual_seed(0)
    draws = {int(choose_tokens(logits, SamplingConfig(temperature=1.0, top_k=2), g)) for _ in range(200)}
    assert draws == {3, 4}


@pytest.mark.parametrize(
    "config,prompt,message",
    [
        (SamplingConfig(), [], "empty"),
        (SamplingConfig(), list(range(65)), "context length"),
        (SamplingConfig(temperature=-1), [1], "temperature"),
        (SamplingConfig(top_p=1.5), [1], "top_p"),
        (SamplingConfig(top_k=0), [1], "top_k"),
    ],
)
def test_bad_requests_are_explained(engine, config, prompt, message):
    with pytest.raises(LmforgeError, match=message):
        engine.generate(prompt, config)


def test_incremental_decoder_holds_partial_utf8():
    pytest.importorskip("regex")
    from lmforge.tokenizers import ByteLevelBPE

    tok = ByteLevelBPE.train("plain ascii text only", vocab_size=260, special_tokens=())
    ids = tok.encode("é€😀 ok")  # multi-byte characters fall back to byte tokens
    decoder = IncrementalDecoder(tok)
    pieces = [decoder.add(i) for i in ids] + [decoder.flush()]
    assert "".join(pieces) == "é€😀 ok"
    assert all("\ufffd" not in p for p in pieces)
