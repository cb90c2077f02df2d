"""Beam search for decoder-only models against Hugging Face ``generate(num_beams=...)`` on the same weights."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from lmforge.infer.batch import BatchEngine, SlotsBusy  # noqa: E402
from lmforge.infer.beam import BeamConfig, beam_search  # noqa: E402
from lmforge.infer.engine import GenerationEngine  # noqa: E402
from lmforge.infer.sampling import SamplingConfig  # noqa: E402
from lmforge.interop.hf_gpt2 import export_hf_gpt2  # noqa: E402
from lmforge.models.gpt import GPT, GPTConfig  # noqa: E402

PROMPTS = [[1, 2, 3, 4], [7], [9, 30, 31, 2, 2, 40], [20] * 6]
EOS = 11  # an id these random weights often produce, so hypotheses end at different lengths


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=50, context_length=64, d_model=32, n_layers=2, n_heads=4))
    with torch.no_grad():  # larger matrices than the 0.02 init (norms kept), so beams disagree with greedy
        for p in model.parameters():
            if p.dim() >= 2:
                p.normal_(0, 0.3)
    path = tmp_path_factory.mktemp("beam-gpt2")
    export_hf_gpt2(model.eval(), path, eos_id=EOS)
    return model, transformers.GPT2LMHeadModel.from_pretrained(path).eval()


def _hf_beam(hf, prompt, width, max_new, length_penalty, early_stopping):
    out = hf.generate(torch.tensor([prompt]), num_beams=width, max_new_tokens=max_new, do_sample=False,
                      length_penalty=length_penalty, early_stopping=early_stopping, eos_token_id=EOS,
                      pad_token_id=EOS, attention_mask=torch.ones(1, len(prompt), dtype=torch.long))[0, len(prompt):]
    tokens = out.tolist()
    return tokens[: tokens.index(EOS)] if EOS in tokens else tokens


@pytest.mark.parametrize("width,length_penalty,early_stopping", [(3, 1.0, True), (4, 0.0, True), (3, 2.0, False)])
def test_beam_search_equals_transformers(models, width, length_penalty, early_stopping):
    model, hf = models
    engine = BatchEngine(model, max_batch=4)
    config = BeamConfig(width, 12, length_penalty, early_stopping, frozenset({EOS}))
    ours = [beam_search(engine, p, config) for p in PROMPTS]
    with torch.no_grad():
        assert ours == [_hf_beam(hf, p, width, 12, length_penalty, early_stopping) for p in PROMPTS]
    assert engine.free_slots == 4
    greedy = [GenerationEngine(model).generate(p, SamplingConfig(max_new_tokens=12, temperature=0,
                                                                 stop_tokens=frozenset({EOS}))) for p in PROMPTS]
    assert ours != greedy  # the beams found something greedy decoding did not
    assert min(map(len, ours)) < 12  # some hypotheses ended: the length penalty and early stopping mattered


def test_width_one_is_greedy_and_too_wide_is_refused(models):
    model, _ = models
    engine = BatchEngine(model, max_batch=2)
    greedy = SamplingConfig(max_new_tokens=10, temperature=0, stop_tokens=frozenset({EOS}))
    assert beam_search(engine, PROMPTS[0], BeamConfig(1, 10, stop_tokens=frozenset({EOS}))) == \
        GenerationEngine(model).generate(PROMPTS[0], greedy)
    with pytest.raises(SlotsBusy, match="3 rows are needed"):  # the server answers 429 (busy), not 400
        beam_search(engine, PROMPTS[0], BeamConfig(3, 10))
