"""Bad input reaches the user as one line naming the file, the line or field, and what was expected,
with exit status 2: never a traceback, never a multi-line box, never a silent score."""

import json

import pytest
import safetensors.torch
import torch
import typer.main

from lmforge.cli.main import _register, app, run
from lmforge.interop.convert import export_hf
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.llama import Llama, LlamaConfig
from lmforge.models.registry import save_model

INDEX = "model.safetensors.index.json"


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


@pytest.fixture
def sharded_hf_dir(tmp_path):
    """A tiny HF Llama checkpoint split into two shards with a ``model.safetensors.index.json``."""
    torch.manual_seed(0)
    directory = tmp_path / "hf"
    export_hf(Llama(LlamaConfig(vocab_size=16, context_length=8, d_model=8, n_layers=1, n_heads=2, n_kv_heads=2,
                                d_mlp=16)), directory)
    state = safetensors.torch.load_file(str(directory / "model.safetensors"))
    (directory / "model.safetensors").unlink()
    names = sorted(state)
    weight_map = {}
    for k, part in enumerate((names[: len(names) // 2], names[len(names) // 2:]), start=1):
        shard = f"model-0000{k}-of-00002.safetensors"
        safetensors.torch.save_file({n: state[n] for n in part}, str(directory / shard))
        weight_map.update(dict.fromkeys(part, shard))
    (directory / INDEX).write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return directory


def test_a_sharded_checkpoint_imports(capsys, sharded_hf_dir, tmp_path):
    assert run(["import-hf", str(sharded_hf_dir), "--out", str(tmp_path / "model")]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("damage,message", [
    (lambda d: (d / INDEX).write_text('{"weight_map": {"a": '), f"{INDEX}: line 1, column 22: invalid JSON"),
    (lambda d: (d / INDEX).write_text('{"metadata": {}}'), f"{INDEX}: expected a non-empty 'weight_map' object"),
    (lambda d: (d / "model-00002-of-00002.safetensors").unlink(),
     f"{INDEX}: names 1 shard file(s) missing beside it, e.g. 'model-00002-of-00002.safetensors'"),
    (lambda d: (d / "model-00001-of-00002.safetensors").write_bytes(b"\0" * 8),
     "model-00001-of-00002.safetensors: not a readable safetensors file"),
], ids=["bad JSON", "no weight_map", "missing shard", "truncated shard"])
def test_a_damaged_sharded_checkpoint_is_one_line(capsys, sharded_hf_dir, tmp_path, damage, message):
    damage(sharded_hf_dir)
    assert message in lmforge(capsys, "import-hf", sharded_hf_dir, "--out", tmp_path / "model")


SQUAD = {"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": "Paris is in France.", "qas": [
    {"id": "q1", "question": "Where is Paris?", "answers": [{"text": "France", "answer_start": 12}]},
    {"id": "q2", "question": "What is in France?", "answers": [{"text": "Paris", "answer_start": 0}]},
]}]}]}


@pytest.mark.parametrize("predictions,message", [
    ("", "the file is empty (expected SQuAD predictions)"),
    ("{}", "no prediction for 2 of the 2 questions in"),
    ('{"q1": "France"}', "no prediction for 1 of the 2 questions in"),
    ('{"q1": "", "q2": " "}', "all 2 predictions are empty; nothing to score"),
], ids=["empty file", "empty object", "one missing", "all blank"])
def test_squad_predictions_that_cannot_be_scored_are_refused(capsys, tmp_path, predictions, message):
    (tmp_path / "dev.json").write_text(json.dumps(SQUAD))
    (tmp_path / "pred.json").write_text(predictions)
    assert message in lmforge(capsys, "eval", "squad", tmp_path / "dev.json", tmp_path / "pred.json")


@pytest.mark.parametrize("command", ["rouge", "bleu"])
@pytest.mark.parametrize("references,predictions,message", [
    ("a cat sat\nthe dog ran\nbirds fly\n", "", "pred.txt: 0 lines but"),
    ("a cat sat\nthe dog ran\nbirds fly\n", "a cat sat\n", "has 3: 2 predictions missing"),
    ("a cat sat\nthe dog ran\n", "\n\n", "pred.txt: all 2 predictions are empty; nothing to score"),
    ("a cat sat\n", "a cat sat\nthe dog ran\n", "has 1: 1 lines too many"),
    ("", "", "refs.txt: the file is empty; expected one reference per line"),
], ids=["empty", "short", "blank", "long", "no references"])
def test_line_predictions_that_cannot_be_scored_are_refused(capsys, tmp_path, command, references, predictions,
                                                             message):
    (tmp_path / "refs.txt").write_text(references)
    (tmp_path / "pred.txt").write_text(predictions)
    assert message in lmforge(capsys, "eval", command, tmp_path / "refs.txt", tmp_path / "pred.txt")


def test_a_partly_blank_prediction_file_is_scored(capsys, tmp_path):
    (tmp_path / "refs.txt").write_text("a cat sat\nthe dog ran\n")
    (tmp_path / "pred.txt").write_text("a cat sat\n\n")
    assert run(["eval", "rouge", str(tmp_path / "refs.txt"), str(tmp_path / "pred.txt")]) == 0
    assert "rouge1 50.00" in capsys.readouterr().out
