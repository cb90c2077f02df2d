"""Parity with Hugging Face DeBERTa-v2: MLM logits equal on random configs (both directions), refusals in one line."""

import json

import pytest
import torch

transformers = pytest.importorskip("transformers")

from bert_parity import encoder_batch, load_strict, perturb  # noqa: E402

from lmforge.errors import ConfigError  # noqa: E402
from lmforge.interop.convert import export_hf, import_hf  # noqa: E402
from lmforge.interop.hf_deberta import import_hf_deberta  # noqa: E402

V3 = dict(vocab_size=120, hidden_size=48, num_hidden_layers=2, num_attention_heads=4, intermediate_size=80,
          max_position_embeddings=40, relative_attention=True, pos_att_type="p2c|c2p", position_buckets=8,
          max_relative_positions=24, share_att_key=True, norm_rel_ebd="layer_norm", position_biased_input=False,
          initializer_range=0.2)  # large weights: O(1) pre-activations, so a wrong term shows
V2 = {**V3, "share_att_key": False, "position_buckets": -1, "norm_rel_ebd": "none", "position_biased_input": True,
      "type_vocab_size": 2, "pos_att_type": ["c2p"]}


def _check(ours, hf):
    """Logits (or hidden states) on the real positions of a padded two-segment batch."""
    ids, types, mask = encoder_batch()
    types = types if ours.config.type_vocab_size else torch.zeros_like(types)
    real = mask.bool()
    with torch.no_grad():
        out = hf(input_ids=ids, token_type_ids=types, attention_mask=mask)
        hidden = ours(ids, types, mask)
        if isinstance(hf, transformers.DebertaV2Model):
            torch.testing.assert_close(hidden[real], out.last_hidden_state[real], atol=1e-4, rtol=0)
        else:  # padded rows attend differently (HF masks them out entirely); nothing reads them
            torch.testing.assert_close(ours.mlm_logits(hidden)[real], out.logits[real], atol=1e-4, rtol=0)


@pytest.mark.parametrize(("name", "config", "cls", "legacy"), [
    ("v3", V3, "DebertaV2ForMaskedLM", True), ("v3-new-head", V3, "DebertaV2ForMaskedLM", False),
    ("v2", V2, "DebertaV2ForMaskedLM", True), ("bare", {**V3, "embedding_size": 32}, "DebertaV2Model", True),
])
def test_random_hf_deberta_imports_and_exports(name, config, cls, legacy, tmp_path):
    torch.manual_seed(0)
    hf_cls = getattr(transformers, cls)
    hf = perturb(hf_cls(transformers.DebertaV2Config(**config, legacy=legacy)), 0.1).eval()
    hf.save_pretrained(tmp_path / "hf")
    ours = import_hf(tmp_path / "hf")
    assert ours.family == "deberta" and ours.config.mlm_head == (cls != "DebertaV2Model")
    _check(ours, hf)
    assert export_hf(ours, tmp_path / "back") == cls
    _check(ours, load_strict(hf_cls, tmp_path / "back"))


@pytest.mark.parametrize(("field", "value"), [("model_type", "deberta"), ("conv_kernel_size", 3),
                                              ("pos_att_type", ["p2c", "p2p"]), ("attention_head_size", 8),
                                              ("tie_word_embeddings", False)])
def test_unsupported_variants_are_refused_naming_the_field(field, value, tmp_path):
    transformers.DebertaV2ForMaskedLM(transformers.DebertaV2Config(**V3)).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, field: value}))
    with pytest.raises(ConfigError, match=f"{field}=") as err:
        import_hf_deberta(tmp_path)
    assert "\n" not in str(err.value)


def test_the_cli_refuses_deberta_v1_in_one_line_and_writes_nothing(tmp_path, capsys):
    from lmforge.cli.main import run

    transformers.DebertaV2ForMaskedLM(transformers.DebertaV2Config(**V3)).save_pretrained(tmp_path / "hf")
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    (tmp_path / "hf" / "config.json").write_text(json.dumps({**config, "model_type": "deberta"}))
    capsys.readouterr()  # HF's save progress bar
    assert run(["import-hf", str(tmp_path / "hf"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "model_type='deberta'" in err, err
    assert not (tmp_path / "out").exists()
