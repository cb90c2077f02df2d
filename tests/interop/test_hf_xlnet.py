"""Parity with Hugging Face XLNet: the LM logits for a given perm_mask / target_mapping equal
``XLNetLMHeadModel``'s (both directions), and unsupported variants are refused in one line."""

import json

import pytest
import torch

transformers = pytest.importorskip("transformers")

from bert_parity import load_strict, perturb  # noqa: E402

from lmforge.errors import ConfigError  # noqa: E402
from lmforge.interop.convert import export_hf, import_hf  # noqa: E402
from lmforge.interop.hf_xlnet import import_hf_xlnet  # noqa: E402
from lmforge.objectives.plm import permutation_batch  # noqa: E402

HF = dict(vocab_size=90, d_model=32, n_layer=2, n_head=4, d_inner=64, initializer_range=0.2, dropout=0.0,
          mem_len=None)


def _batch():
    g = torch.Generator().manual_seed(4)
    ids = torch.randint(0, 90, (3, 14), generator=g)
    ids, perm_mask, target_mapping, _ = permutation_batch(ids, n_targets=4, generator=g)
    types = torch.cat([torch.zeros(3, 6), torch.ones(3, 8)], dim=1).long()
    return ids, perm_mask, target_mapping, types


def _check(ours, hf):
    ids, perm_mask, target_mapping, types = _batch()
    with torch.no_grad():
        for kwargs in (dict(perm_mask=perm_mask, target_mapping=target_mapping, token_type_ids=types),
                       dict(perm_mask=perm_mask), dict(token_type_ids=types)):  # two streams / content stream only
            theirs = hf(input_ids=ids, **kwargs).logits
            torch.testing.assert_close(ours.logits(ours(ids, **kwargs)), theirs, atol=1e-4, rtol=0)
        mask = torch.ones_like(ids)
        mask[1, 10:] = 0
        theirs = hf(input_ids=ids, attention_mask=mask, perm_mask=perm_mask, target_mapping=target_mapping).logits
        ours_logits = ours.logits(ours(ids, perm_mask, target_mapping, attention_mask=mask))
        torch.testing.assert_close(ours_logits, theirs, atol=1e-4, rtol=0)


@pytest.mark.parametrize("clamp_len", [-1, 5])
def test_random_hf_xlnet_imports_and_exports(clamp_len, tmp_path):
    torch.manual_seed(0)
    hf = perturb(transformers.XLNetLMHeadModel(transformers.XLNetConfig(**HF, clamp_len=clamp_len)), 0.1).eval()
    hf.save_pretrained(tmp_path / "hf")
    ours = import_hf(tmp_path / "hf")
    assert ours.family == "xlnet"
    _check(ours, hf)
    assert export_hf(ours, tmp_path / "back") == "XLNetLMHeadModel"
    _check(ours, load_strict(transformers.XLNetLMHeadModel, tmp_path / "back"))


@pytest.mark.parametrize(("field", "value"), [("attn_type", "uni"), ("bi_data", True), ("d_head", 4),
                                              ("tie_word_embeddings", False)])
def test_unsupported_variants_are_refused_naming_the_field(field, value, tmp_path):
    transformers.XLNetLMHeadModel(transformers.XLNetConfig(**HF)).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, field: value}))
    with pytest.raises(ConfigError, match=f"{field}=") as err:
        import_hf_xlnet(tmp_path)
    assert "\n" not in str(err.value)
