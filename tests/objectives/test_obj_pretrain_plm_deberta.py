"""``lmforge pretrain --objective deberta|plm`` wires DeBERTa and XLNet into the pretraining recipe (the loss
falling is shown by the tiny runs in tests/models/test_deberta.py and test_xlnet.py)."""

import json

import pytest
from typer.testing import CliRunner

from lmforge.cli.main import _register, app
from lmforge.models.registry import load_model


@pytest.mark.parametrize(("objective", "family"), [("deberta", "deberta"), ("plm", "xlnet")])
def test_pretrain_runs_the_new_objectives(objective, family, char_data_dir, tmp_path):
    _register()
    args = ["pretrain", "--objective", objective, "--out", str(tmp_path), "--data", str(char_data_dir),
            "--max-steps", "3", "--batch-size", "4", "--context-length", "24", "--d-model", "32",
            "--precision", "fp32", "--seed", "1"]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "pretrain.json").read_text())["objective"] == objective
    assert load_model(tmp_path).family == family
    assert [r for r in map(json.loads, (tmp_path / "metrics.jsonl").read_text().splitlines()) if "val_loss" in r]
