"""Tiny pretraining runs on the bundled text: the loss falls for every objective, via the CLI and the one Trainer."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from lmforge.cli.main import _register, app
from lmforge.models.electra import Electra, ElectraConfig
from lmforge.models.registry import load_model
from lmforge.objectives.electra import electra_loss
from lmforge.objectives.masking import mlm_mask
from lmforge.recipes.pretrain import bundled_data

STEPS = 60


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return bundled_data(tmp_path_factory.mktemp("pretrain"))


def run_cli(*args: str):
    _register()
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def losses(out):
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    first = next(r["loss"] for r in records if "loss" in r)
    final = [r["val_loss"] for r in records if "val_loss" in r][-1]
    return first, final


def pretrain_losses(objective: str, data, out) -> tuple[float, float]:
    """A tiny seeded fp32 ``lmforge pretrain`` run on ``data``: (first training loss, final validation loss)."""
    run_cli("pretrain", "--objective", objective, "--out", str(out), "--data", str(data),
            "--max-steps", str(STEPS), "--batch-size", "8", "--context-length", "48", "--seed", "3",
            "--precision", "fp32")
    return losses(out)


@pytest.mark.parametrize(("objective", "ratio"), [("clm", 0.75), ("mlm", 0.85), ("span", 0.75), ("electra", 0.7)])
def test_tiny_pretraining_loss_falls(objective, ratio, data_dir, tmp_path):
    out = tmp_path / objective
    first, final = pretrain_losses(objective, data_dir, out)
    assert final < ratio * first, (objective, first, final)
    settings = json.loads((out / "pretrain.json").read_text())
    assert settings["objective"] == objective
    model = load_model(out / "discriminator") if objective == "electra" else load_model(out)
    assert model.family == {"clm": "gpt", "mlm": "bert", "span": "t5", "electra": "bert"}[objective]
    assert (out / "loss.png").is_file() and (out / "tokenizer.json").is_file()


def test_electra_shares_embeddings_and_labels_replacements():
    disc = {"vocab_size": 50, "context_length": 16, "d_model": 32, "n_layers": 1, "n_heads": 2, "d_mlp": 64}
    gen_cfg = {**disc, "d_model": 16, "n_heads": 2, "d_mlp": 32, "embedding_dim": 32}
    torch.manual_seed(0)
    model = Electra(ElectraConfig(disc, gen_cfg))
    assert model.generator.tok_emb.weight is model.discriminator.tok_emb.weight
    ids = torch.randint(0, 46, (4, 16), generator=torch.Generator().manual_seed(0))
    inputs, labels = mlm_mask(ids, 49, 46, torch.Generator().manual_seed(1))
    loss = electra_loss(model, (inputs, labels))
    loss.backward()
    assert torch.isfinite(loss) and model.head[0].weight.grad is not None
    assert model.generator.mlm_transform.weight.grad is not None  # the generator learns by its MLM loss


def test_pretrain_rejects_unknown_objective(tmp_path):
    from lmforge.errors import ConfigError
    from lmforge.recipes.pretrain import pretrain

    with pytest.raises(ConfigError, match="unknown objective 'xlnet'"):
        pretrain("xlnet", tmp_path)
