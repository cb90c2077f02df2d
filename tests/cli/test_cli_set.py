"""``--set KEY=VALUE``: any preset field from the command line (the speedrun's rows are such overrides)."""

import json

import pytest
import typer

from lmforge.cli.main import run
from lmforge.cli.options import parse_settings


def test_values_are_json_else_text():
    assert parse_settings(["lr=2e-3", "qk_norm=true", "position=rope", "min_lr=0", "d_mlp=null"]) == {
        "lr": 0.002, "qk_norm": True, "position": "rope", "min_lr": 0, "d_mlp": None}
    assert parse_settings(None) == {}
    with pytest.raises(typer.BadParameter, match="KEY=VALUE"):
        parse_settings(["qk_norm"])


@pytest.mark.slow  # a whole `lmforge train` in process (~30 s on a loaded 2-core CPU)
def test_train_takes_model_and_training_fields(char_data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    status = run(["train", "--data", str(char_data_dir), "--out", str(out), "--max-steps", "2", "--precision",
                  "fp32", "--n-layers", "1", "--d-model", "16", "--n-heads", "2", "--set", "qk_norm=true",
                  "--set", "activation=relu2", "--set", "optimizer=muon", "--set", "muon_lr=0.03",
                  "--set", "batch_size=2", "--set", "max_steps=99"])
    assert status == 0, capsys.readouterr().err
    run_json = json.loads((out / "run.json").read_text())
    assert run_json["model"]["qk_norm"] is True and run_json["model"]["activation"] == "relu2"
    assert run_json["train"]["optimizer"] == "muon" and run_json["train"]["muon_lr"] == 0.03
    assert run_json["batch_size"] == 2 and run_json["train"]["max_steps"] == 2  # named options win over --set
    capsys.readouterr()
    assert run(["train", "--data", str(char_data_dir), "--out", str(tmp_path / "bad"), "--max-steps", "1",
                "--set", "qk_nrom=true"]) == 2
    assert "qk_nrom" in capsys.readouterr().err


@pytest.mark.parametrize("setting", ["lr=abc", "warmup_steps=ten", "lr=-1"])
def test_a_training_field_of_the_wrong_type_or_value_is_one_line_before_anything_is_written(
        char_data_dir, tmp_path, capsys, setting):
    assert run(["train", "--data", str(char_data_dir), "--out", str(tmp_path / "run"), "--set", setting]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and setting.split("=")[0] in err, err
    assert not (tmp_path / "run").exists()
