"""Bad input reaches the user as one line naming the file, the line or field, and what was expected,
with exit status 2: never a traceback, never a multi-line box, never a silent score."""

import json

import pytest
import torch
import typer.main

from lmforge.cli.main import _register, app, run
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.registry import save_model


def lmforge(capsys, *args) -> str:
    """Run the CLI in this process; return its stderr after checking the one-line, status-2 contract."""
    status = run([str(a) for a in args])
    err = capsys.readouterr().err
    assert status == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def leaf_commands() -> list[list[str]]:
    """Every command a user can type, e.g. ``["eval", "rouge"]``."""
    _register()

    def walk(command, path):
        subcommands = getattr(command, "commands", None)
        if not subcommands:
            return [path]
        return [leaf for name, sub in subcommands.items() for leaf in walk(sub, [*path, name])]

    return walk(typer.main.get_command(app), [])


@pytest.mark.parametrize("command", leaf_commands(), ids=" ".join)
def test_an_unknown_option_is_one_line_for_every_command(capsys, command):
    err = lmforge(capsys, *command, "--zzz")
    path = " ".join(["lmforge", *command])
    assert f"{path}: No such option: --zzz (see '{path} --help')" in err


@pytest.mark.parametrize("args,message", [
    (["eval", "rouge"], "lmforge eval rouge: Missing argument 'references'."),
    (["tokenizer", "train", "x.txt", "--kind", "nope", "--out", "t"], "'nope' is not one of"),
    (["quickstart", "--max-steps", "many"], "lmforge quickstart: Invalid value for '--max-steps'"),
    (["no-such-command"], "lmforge: No such command 'no-such-command'."),
])
def test_argument_mistakes_are_one_line(capsys, args, message):
    assert message in lmforge(capsys, *args)


def test_help_and_no_arguments_still_print_help(capsys):
    assert run(["info", "--help"]) == 0 and "Usage" in capsys.readouterr().out
    assert run([]) == 2 and "quickstart" in capsys.readouterr().out


@pytest.fixture
def model_dir(tmp_path):
    torch.manual_seed(0)
    directory = tmp_path / "model"
    save_model(GPT(GPTConfig(vocab_size=16, context_length=8, d_model=8, n_layers=1, n_heads=2)), directory)
    return directory


def test_info_names_the_damaged_line_of_metrics(capsys, model_dir):
    good = json.dumps({"step": 10, "val_loss": 2.5})
    (model_dir / "metrics.jsonl").write_text(f"{good}\n{{\"step\": 20, \"val_lo\n")
    err = lmforge(capsys, "info", model_dir)
    assert f"{model_dir / 'metrics.jsonl'}: line 2, column" in err and "invalid JSON" in err


def test_a_truncated_weights_file_is_named(capsys, model_dir):
    weights = model_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-7])
    assert f"{weights}: not a readable safetensors file" in lmforge(capsys, "info", model_dir)
