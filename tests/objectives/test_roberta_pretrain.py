"""RoBERTa pretraining: full-text MLM with masks drawn afresh at every read, on byte-level BPE, and a tiny
run on the bundled text whose validation loss falls."""

from __future__ import annotations

import json

import pytest
import torch
from test_obj_pretrain import pretrain_losses

from lmforge.models.registry import load_model
from lmforge.objectives.masking import IGNORE, SpecialIds
from lmforge.objectives.mlm import full_text_mlm_corruption
from lmforge.recipes.pretrain import bundled_data
from lmforge.tokenizers import load_tokenizer


def test_masks_are_dynamic_and_never_hit_the_sentence_markers():
    special = SpecialIds(text_vocab=50)
    windows = torch.randint(0, 50, (8, 30), generator=torch.Generator().manual_seed(0))
    corrupt = full_text_mlm_corruption(special)
    generator = torch.Generator().manual_seed(1)
    (first, labels1), (_, labels2) = corrupt(windows, generator), corrupt(windows, generator)
    assert first.shape == (8, 32) and (first[:, 0] == special.cls).all() and (first[:, -1] == special.sep).all()
    assert not torch.equal(labels1, labels2)  # the same text, read twice, is masked differently
    for labels in (labels1, labels2):
        targets = labels != IGNORE
        assert not targets[:, [0, -1]].any()
        torch.testing.assert_close(labels[targets], windows[targets[:, 1:-1]])  # labels restore the text
        assert 0.08 < targets.float().mean() < 0.22


@pytest.mark.slow  # ~20 s of CPU; the masking and HF-parity tests carry the default suite's claims
def test_tiny_roberta_pretraining_on_byte_level_bpe_loss_falls(tmp_path):
    data = bundled_data(tmp_path / "bundled", "bpe")
    tokenizer = load_tokenizer(data / "tokenizer.json")
    assert tokenizer.decode(tokenizer.encode("Wherefore art thou, Romeo? ¿Sí?")) == "Wherefore art thou, Romeo? ¿Sí?"
    out = tmp_path / "run"
    first, final = pretrain_losses("roberta", data, out)
    assert final < 0.85 * first, (first, final)
    model = load_model(out)
    assert model.family == "roberta" and not hasattr(model, "nsp_head") and model.pooler is None
    special = json.loads((out / "pretrain.json").read_text())["special_ids"]
    assert model.config.pad_id == special["[PAD]"] == tokenizer.vocab_size
