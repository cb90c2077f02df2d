"""Parity with Hugging Face ELECTRA: the discriminator's replaced-token logits and the generator's MLM logits
equal, both directions, and an lmforge ELECTRA pretraining pair exported as HF's two checkpoints."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from bert_parity import encoder_batch, load_strict, perturb  # noqa: E402

from lmforge.errors import ConfigError  # noqa: E402
from lmforge.interop.convert import export_hf  # noqa: E402
from lmforge.interop.hf_electra import export_hf_electra, import_hf_electra  # noqa: E402
from lmforge.models.electra import Electra, ElectraConfig  # noqa: E402
from lmforge.models.registry import load_model, save_model  # noqa: E402

HF = dict(vocab_size=120, hidden_size=48, num_hidden_layers=2, num_attention_heads=4, intermediate_size=80,
          max_position_embeddings=40, type_vocab_size=2)


def _check(ours, hf):
    ids, types, mask = encoder_batch()
    with torch.no_grad():
        expected = hf(input_ids=ids, token_type_ids=types, attention_mask=mask).logits
        hidden = ours(ids, types, mask)
        got = ours.replaced_logits(hidden) if ours.config.replaced_token_head else ours.mlm_logits(hidden)
        torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize(("cls", "embedding_size", "act"), [("ElectraForPreTraining", 16, "gelu"),
                                                            ("ElectraForPreTraining", 48, "gelu_new"),
                                                            ("ElectraForMaskedLM", 16, "gelu")])
def test_random_hf_electra_imports_and_exports(cls, embedding_size, act, tmp_path):
    torch.manual_seed(0)
    hf_cls = getattr(transformers, cls)
    config = transformers.ElectraConfig(**HF, embedding_size=embedding_size, hidden_act=act)
    hf = perturb(hf_cls(config), 0.3).eval()
    hf.save_pretrained(tmp_path / "hf")
    ours = import_hf_electra(tmp_path / "hf")
    assert ours.config.replaced_token_head == (cls == "ElectraForPreTraining")
    assert (ours.emb_proj is None) == (embedding_size == 48)
    _check(ours, hf)
    assert export_hf(ours, tmp_path / "back") == cls  # the CLI's dispatch picks ELECTRA for these options
    _check(ours, load_strict(hf_cls, tmp_path / "back"))


def test_lmforge_electra_pair_becomes_hf_discriminator_and_generator(tmp_path):
    disc = {"vocab_size": 120, "context_length": 40, "d_model": 48, "n_layers": 2, "n_heads": 4, "d_mlp": 80,
            "embedding_dim": 16}
    torch.manual_seed(1)
    pair = perturb(Electra(ElectraConfig(disc, {**disc, "d_model": 32, "d_mlp": 64})), 0.3).eval()
    save_model(pair, tmp_path / "pair")  # the registry loads the pair back as one model
    loaded = load_model(tmp_path / "pair")
    ids, types, mask = encoder_batch()
    with torch.no_grad():
        expected = pair(ids, types, mask)
        torch.testing.assert_close(loaded(ids, types, mask), expected, atol=0, rtol=0)
    with pytest.raises(ConfigError, match="discriminator/"):
        export_hf(loaded, tmp_path / "nope")

    save_model(pair.discriminator, tmp_path / "discriminator")  # what `lmforge pretrain --objective electra` keeps
    assert export_hf(load_model(tmp_path / "discriminator"), tmp_path / "hf-disc") == "ElectraForPreTraining"
    hf_disc = load_strict(transformers.ElectraForPreTraining, tmp_path / "hf-disc")
    with torch.no_grad():
        torch.testing.assert_close(hf_disc(input_ids=ids, token_type_ids=types, attention_mask=mask).logits,
                                   expected, atol=1e-4, rtol=0)
    assert export_hf_electra(pair.generator, tmp_path / "hf-gen") == "ElectraForMaskedLM"
    _check(pair.generator, load_strict(transformers.ElectraForMaskedLM, tmp_path / "hf-gen"))


def test_what_electra_cannot_hold_is_refused(tmp_path):
    transformers.ElectraForMaskedLM(transformers.ElectraConfig(**HF, hidden_act="relu")).save_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="exact GELU"):  # HF's generator head is GELU whatever hidden_act says
        import_hf_electra(tmp_path)
    disc = {"vocab_size": 50, "context_length": 16, "d_model": 32, "n_layers": 1, "n_heads": 2, "d_mlp": 64}
    discriminator = Electra(ElectraConfig(disc, disc)).discriminator
    discriminator.config.share_layers = True
    with pytest.raises(ConfigError, match="shared layers"):
        export_hf_electra(discriminator, tmp_path / "out")
