"""Parity with Hugging Face RoBERTa: MLM logits and hidden states equal, both directions (positions offset
past the padding id included), and variants lmforge does not implement refused in one line naming the field."""

import json

import pytest
import torch

transformers = pytest.importorskip("transformers")

from bert_parity import encoder_batch, load_strict, perturb  # noqa: E402

from lmforge.errors import ConfigError  # noqa: E402
from lmforge.interop.convert import export_hf, import_hf  # noqa: E402
from lmforge.models.registry import load_model, save_model  # noqa: E402
from lmforge.models.roberta import Roberta, RobertaConfig  # noqa: E402

HF = dict(vocab_size=120, hidden_size=48, num_hidden_layers=2, num_attention_heads=4, intermediate_size=80,
          max_position_embeddings=40, type_vocab_size=1, layer_norm_eps=1e-5, pad_token_id=1)


def roberta_batch():
    """(ids, attention mask): row 1 right-padded with the pad id, and a pad id inside row 2 (HF numbers
    positions from the ids, skipping every pad, so that case must match too)."""
    ids, _, mask = encoder_batch()
    ids = ids.masked_fill(ids == 1, 7).masked_fill(mask == 0, 1)
    ids[2, 5] = 1
    return ids, mask


def _check(ours, hf):
    ids, mask = roberta_batch()
    with torch.no_grad():
        hidden = ours(ids, attention_mask=mask)
        if ours.config.pretraining_heads:
            got, expected = ours.mlm_logits(hidden), hf(input_ids=ids, attention_mask=mask).logits
        else:
            got, expected = hidden, hf(input_ids=ids, attention_mask=mask).last_hidden_state
        torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("cls", ["RobertaForMaskedLM", "RobertaModel"])
def test_random_hf_roberta_imports_and_exports(cls, tmp_path):
    torch.manual_seed(0)
    hf_cls = getattr(transformers, cls)
    hf = perturb(hf_cls(transformers.RobertaConfig(**HF)), 0.3).eval()
    hf.save_pretrained(tmp_path / "hf")
    ours = import_hf(tmp_path / "hf")
    assert isinstance(ours, Roberta) and ours.config.context_length == 40 - 2
    assert ours.config.pretraining_heads == (cls == "RobertaForMaskedLM")
    _check(ours, hf)
    assert export_hf(ours, tmp_path / "back") == cls
    _check(ours, load_strict(hf_cls, tmp_path / "back"))


def test_lmforge_roberta_round_trips_through_its_directory_and_hf(tmp_path):
    torch.manual_seed(1)
    config = RobertaConfig(vocab_size=120, context_length=20, d_model=32, n_layers=1, n_heads=2, d_mlp=64)
    model = perturb(Roberta(config), 0.3).eval()
    assert model.pos_emb.table.weight.shape[0] == 20 + 1 + 1  # rows 0..pad_id are never real positions
    save_model(model, tmp_path / "ours")
    loaded = load_model(tmp_path / "ours")
    assert loaded.family == "roberta"
    export_hf(loaded, tmp_path / "hf")
    hf = load_strict(transformers.RobertaForMaskedLM, tmp_path / "hf")
    ids = torch.randint(2, 120, (2, 20), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model.mlm_logits(model(ids)), hf(input_ids=ids).logits, atol=1e-4, rtol=0)
        with pytest.raises(ValueError, match="context length 20"):
            model(torch.randint(2, 120, (1, 21)))


def _saved(tmp_path, hf_cls, **config):
    getattr(transformers, hf_cls)(transformers.RobertaConfig(**{**HF, **config})).save_pretrained(tmp_path)
    return tmp_path


@pytest.mark.parametrize(("hf_cls", "config", "field"), [
    ("RobertaForSequenceClassification", {}, "architectures"),
    ("RobertaForCausalLM", {"is_decoder": True}, "architectures"),
    ("RobertaForMaskedLM", {"position_embedding_type": "relative_key"}, "position_embedding_type"),
    ("RobertaForMaskedLM", {"hidden_act": "relu"}, "hidden_act"),
    ("RobertaForMaskedLM", {"tie_word_embeddings": False}, "tie_word_embeddings"),
])
def test_roberta_variants_lmforge_does_not_implement_are_refused(hf_cls, config, field, tmp_path):
    with pytest.raises(ConfigError, match=field):
        import_hf(_saved(tmp_path, hf_cls, **config))


def test_unknown_head_tensor_and_unknown_model_type_are_refused(tmp_path):
    hf_dir = _saved(tmp_path / "cls", "RobertaForSequenceClassification")
    doc = json.loads((hf_dir / "config.json").read_text())
    (hf_dir / "config.json").write_text(json.dumps({**doc, "architectures": ["RobertaModel"]}))
    with pytest.raises(ConfigError, match=r"tensor 'classifier\..*' belongs to a head"):
        import_hf(hf_dir)
    (hf_dir / "config.json").write_text(json.dumps({**doc, "model_type": "xlm-roberta"}))
    with pytest.raises(ConfigError, match="model_type 'xlm-roberta' is not supported"):
        import_hf(hf_dir)
