"""Parity with Hugging Face ALBERT: MLM and sentence-order logits equal, both directions, and through the CLI."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from bert_parity import encoder_batch, load_strict, perturb  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from lmforge.cli.main import _register, app  # noqa: E402
from lmforge.errors import ConfigError  # noqa: E402
from lmforge.interop.convert import export_hf  # noqa: E402
from lmforge.interop.hf_albert import export_hf_albert, import_hf_albert  # noqa: E402
from lmforge.models.bert import Bert, BertConfig  # noqa: E402
from lmforge.models.registry import load_model  # noqa: E402

HF = dict(vocab_size=120, embedding_size=16, hidden_size=48, num_hidden_layers=3, num_attention_heads=4,
          intermediate_size=80, max_position_embeddings=40, type_vocab_size=2,
          initializer_range=0.2)  # large weights: pre-activations of O(1), where GELU variants differ


def _check(ours, hf):
    """Our heads vs the HF model's outputs on the same (padded, two-segment) batch."""
    ids, types, mask = encoder_batch()
    with torch.no_grad():
        out = hf(input_ids=ids, token_type_ids=types, attention_mask=mask)
        hidden = ours(ids, types, mask)
        if isinstance(hf, transformers.AlbertModel):
            torch.testing.assert_close(hidden, out.last_hidden_state, atol=1e-4, rtol=0)
            return
        mlm = out.prediction_logits if hasattr(out, "prediction_logits") else out.logits
        torch.testing.assert_close(ours.mlm_logits(hidden), mlm, atol=1e-4, rtol=0)
        if hasattr(out, "sop_logits"):
            torch.testing.assert_close(ours.nsp_logits(ours.pool(hidden)), out.sop_logits, atol=1e-4, rtol=0)


@pytest.mark.parametrize(("cls", "groups"), [("AlbertForPreTraining", 1), ("AlbertForMaskedLM", 1),
                                              ("AlbertForPreTraining", 3), ("AlbertModel", 1)])
def test_random_hf_albert_imports_and_exports(cls, groups, tmp_path):
    torch.manual_seed(0)
    hf_cls = getattr(transformers, cls)
    hf = perturb(hf_cls(transformers.AlbertConfig(**HF, num_hidden_groups=groups)), 0.1).eval()
    hf.save_pretrained(tmp_path / "hf")
    ours = import_hf_albert(tmp_path / "hf")
    assert ours.config.share_layers == (groups == 1) and len(ours.blocks) == (1 if groups == 1 else 3)
    assert ours.config.pretraining_heads == (cls != "AlbertModel")
    assert ours.config.embedding_width == 16 and ours.emb_proj is not None
    _check(ours, hf)
    assert export_hf_albert(ours, tmp_path / "back") == cls
    _check(ours, load_strict(hf_cls, tmp_path / "back"))


def test_lmforge_albert_exports_with_or_without_factorized_embeddings(tmp_path):
    torch.manual_seed(1)
    factorized = BertConfig(vocab_size=120, context_length=40, d_model=48, n_layers=2, n_heads=4, d_mlp=80,
                            embedding_dim=16, share_layers=True, activation="gelu_tanh")
    for name, config in [("factorized", factorized),
                         ("square", BertConfig(**{**factorized.__dict__, "embedding_dim": None,
                                                  "embedding_projection": True}))]:
        model = perturb(Bert(config), 0.1).eval()
        assert export_hf(model, tmp_path / name) == "AlbertForPreTraining"  # the CLI's dispatch
        _check(model, load_strict(transformers.AlbertForPreTraining, tmp_path / name))


def test_what_albert_cannot_hold_is_refused(tmp_path):
    square_shared = Bert(BertConfig(vocab_size=50, d_model=32, n_heads=4, n_layers=2, d_mlp=64, share_layers=True))
    with pytest.raises(ConfigError, match="embedding_projection"):
        export_hf_albert(square_shared, tmp_path / "a")
    mlm_with_pooler = Bert(BertConfig(vocab_size=50, d_model=32, n_heads=4, n_layers=2, d_mlp=64, embedding_dim=8,
                                      share_layers=True, pair_head=False))
    with pytest.raises(ConfigError, match="pooler"):
        export_hf_albert(mlm_with_pooler, tmp_path / "b")
    transformers.AlbertModel(transformers.AlbertConfig(**{**HF, "num_hidden_layers": 4}, num_hidden_groups=2,
                                                       inner_group_num=1)).save_pretrained(tmp_path / "groups")
    with pytest.raises(ConfigError, match="num_hidden_groups"):
        import_hf_albert(tmp_path / "groups")


def test_albert_through_the_cli(tmp_path):
    torch.manual_seed(2)
    hf = perturb(transformers.AlbertForMaskedLM(transformers.AlbertConfig(**HF)), 0.1).eval()
    hf.save_pretrained(tmp_path / "hf")
    _register()
    runner = CliRunner()
    result = runner.invoke(app, ["import-hf", str(tmp_path / "hf"), "--out", str(tmp_path / "ours")])
    assert result.exit_code == 0, result.output
    ours = load_model(tmp_path / "ours")
    assert ours.family == "bert" and ours.config.share_layers and not ours.config.pair_head
    _check(ours, hf)
    result = runner.invoke(app, ["export", str(tmp_path / "ours"), "--out", str(tmp_path / "back")])
    assert result.exit_code == 0 and "AlbertForMaskedLM" in result.output, result.output
    _check(ours, load_strict(transformers.AlbertForMaskedLM, tmp_path / "back"))
