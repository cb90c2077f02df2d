"""Parity with Hugging Face BERT: hidden states and heads equal, both directions."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from bert_parity import encoder_batch, perturb  # noqa: E402

from lmforge.errors import ConfigError  # noqa: E402
from lmforge.interop.convert import export_hf  # noqa: E402
from lmforge.interop.hf_bert import export_hf_bert, import_hf_bert  # noqa: E402
from lmforge.models.bert import Bert, BertConfig  # noqa: E402

HF = dict(vocab_size=120, hidden_size=48, num_hidden_layers=2, num_attention_heads=4, intermediate_size=80,
          max_position_embeddings=40, type_vocab_size=2, layer_norm_eps=1e-12)


def norm_or_bias(name: str) -> bool:
    """Only these get noise here: the rest of a random HF BERT is already generic."""
    return "LayerNorm" in name or "norm" in name or name.endswith("bias")


def _check_pretraining_outputs(ours, hf):
    ids, types, mask = encoder_batch()
    with torch.no_grad():
        out = hf(input_ids=ids, token_type_ids=types, attention_mask=mask)
        hidden = ours(ids, types, mask)
        torch.testing.assert_close(ours.mlm_logits(hidden), out.prediction_logits, atol=1e-4, rtol=0)
        torch.testing.assert_close(ours.nsp_logits(ours.pool(hidden)), out.seq_relationship_logits, atol=1e-4, rtol=0)


def test_random_hf_bert_with_heads_imports_and_exports(tmp_path):
    torch.manual_seed(0)
    hf = perturb(transformers.BertForPreTraining(transformers.BertConfig(**HF)), 0.1, norm_or_bias).eval()
    hf.save_pretrained(tmp_path / "hf")
    ours = import_hf_bert(tmp_path / "hf")
    assert ours.config.pretraining_heads
    _check_pretraining_outputs(ours, hf)
    export_hf_bert(ours, tmp_path / "back")
    _check_pretraining_outputs(ours, transformers.BertForPreTraining.from_pretrained(tmp_path / "back").eval())


def test_lmforge_bert_exports_and_encoder_only_checkpoints_import(tmp_path):
    torch.manual_seed(1)
    model = perturb(Bert(BertConfig(vocab_size=120, context_length=40, d_model=48, n_layers=2, n_heads=4,
                                     d_mlp=80, activation="gelu_tanh")), 0.1, norm_or_bias).eval()
    export_hf_bert(model, tmp_path / "full")
    _check_pretraining_outputs(model, transformers.BertForPreTraining.from_pretrained(tmp_path / "full").eval())
    encoder = transformers.BertModel.from_pretrained(tmp_path / "full", add_pooling_layer=False).eval()
    encoder.save_pretrained(tmp_path / "encoder")
    ours = import_hf_bert(tmp_path / "encoder")
    assert not ours.config.pretraining_heads and not ours.config.pooler
    ids, types, mask = encoder_batch()
    with torch.no_grad():
        expected = encoder(input_ids=ids, token_type_ids=types, attention_mask=mask).last_hidden_state
        torch.testing.assert_close(ours(ids, types, mask), expected, atol=1e-4, rtol=0)


def test_albert_options_are_not_exported_as_bert(tmp_path):
    albert = Bert(BertConfig(vocab_size=50, d_model=32, n_heads=4, n_layers=2, d_mlp=64, share_layers=True))
    with pytest.raises(ConfigError, match="ALBERT"):
        export_hf_bert(albert, tmp_path)


def test_mlm_only_bert_is_bert_for_masked_lm_both_ways(tmp_path):
    torch.manual_seed(2)
    hf_config = transformers.BertConfig(**HF, hidden_act="gelu_new")
    hf = perturb(transformers.BertForMaskedLM(hf_config), 0.1, norm_or_bias).eval()
    hf.save_pretrained(tmp_path / "hf")
    ours = import_hf_bert(tmp_path / "hf")  # the MLM head is kept, though the file has no next-sentence head
    assert ours.config.pretraining_heads and not ours.config.pair_head and not ours.config.pooler
    ids, types, mask = encoder_batch()

    def check(hf_model):
        with torch.no_grad():
            expected = hf_model(input_ids=ids, token_type_ids=types, attention_mask=mask).logits
            torch.testing.assert_close(ours.mlm_logits(ours(ids, types, mask)), expected, atol=1e-4, rtol=0)

    check(hf)
    assert export_hf_bert(ours, tmp_path / "back") == "BertForMaskedLM"
    assert export_hf(ours, tmp_path / "cli") == "BertForMaskedLM"  # the CLI's dispatch: plain BERT holds it
    for path in (tmp_path / "back", tmp_path / "cli"):
        back, info = transformers.BertForMaskedLM.from_pretrained(path, output_loading_info=True)
        assert not info["missing_keys"] and not info["unexpected_keys"], info
        check(back.eval())


def test_what_hf_bert_cannot_hold_is_refused(tmp_path):
    small = dict(vocab_size=50, d_model=32, n_heads=4, n_layers=1, d_mlp=64)
    with pytest.raises(ConfigError, match="BertForMaskedLM has no pooler"):  # not a KeyError for nsp_head
        export_hf_bert(Bert(BertConfig(**small, pair_head=False)), tmp_path)
    with pytest.raises(ConfigError, match="ELECTRA"):
        export_hf_bert(Bert(BertConfig(**small, pretraining_heads=False, replaced_token_head=True)), tmp_path)
    with pytest.raises(ConfigError, match="cannot export activation 'relu2' as Hugging Face's hidden_act"):
        export_hf_bert(Bert(BertConfig(**small, activation="relu2")), tmp_path)  # not a KeyError
    assert not any(tmp_path.iterdir())  # refused before anything is written
