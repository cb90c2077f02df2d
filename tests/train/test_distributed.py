"""torchrun-style training on 2 CPU processes (gloo) against one process with the same global batch.

A single process trains a tiny GPT run here; one spawn of 2 ranks trains the same run with DDP and with
FSDP2, and resumes the single process's checkpoint as FSDP shards (1 -> 2). fp32, fixed seeds, dropout off
(each rank draws its own masks): loss curves, checkpoints and final weights agree to 1e-5. The 2-rank runs
then resume on 1 process (2 -> 1).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from rich.console import Console

from lmforge.cli.main import run as cli
from lmforge.data.sampler import RandomWindowSampler
from lmforge.data.shards import open_shards
from lmforge.io import read_safetensors
from lmforge.models.registry import build_model, load_model
from lmforge.recipes.train_lm import LMRun, train_lm
from lmforge.train.checkpoint import load_checkpoint
from lmforge.train.distributed import check_global_batch
from lmforge.train.trainer import TrainConfig

MODEL = {"family": "gpt", "context_length": 16, "d_model": 32, "n_layers": 2, "n_heads": 2, "dropout": 0.0}
ATOL = 1e-5


def _run(data_dir: Path) -> LMRun:
    train = TrainConfig(max_steps=8, grad_accum_steps=2, lr=3e-3, min_lr=3e-4, warmup_steps=2, eval_interval=4,
                        log_interval=1, checkpoint_interval=4, keep_checkpoints=2, precision="fp32", seed=3)
    return LMRun(str(data_dir), dict(MODEL), train, batch_size=4, eval_batches=2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, world: int, jobs: list[tuple[str, str, bool]], run: dict, root: str) -> None:
    """One torchrun rank: the environment torchrun would set, then the same recipe ``lmforge train`` calls."""
    os.environ.update(MASTER_ADDR="127.0.0.1", WORLD_SIZE=str(world), RANK=str(rank), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    for (out, strategy, resume), port in jobs:
        os.environ["MASTER_PORT"] = str(port)
        train_lm(LMRun.from_json(run), Path(root) / out, resume, Console(quiet=True), strategy=strategy)


@pytest.fixture(scope="module")
def runs(char_data_dir, tmp_path_factory) -> Path:
    """``root/single`` (1 process), ``root/ddp`` and ``root/fsdp`` (2 processes each) of the same run, and
    ``root/single-to-fsdp``: the 1-process run crashed after step 4, resumed by 2 FSDP processes."""
    root = tmp_path_factory.mktemp("distributed")
    run = _run(char_data_dir)
    train_lm(run, root / "single", console=Console(quiet=True))
    _crashed_after_step_4(root / "single", root / "single-to-fsdp")
    jobs = [(job, _free_port()) for job in [("ddp", "ddp", False), ("fsdp", "fsdp", False),
                                            ("single-to-fsdp", "fsdp", True)]]
    mp.start_processes(_rank, args=(2, jobs, run.to_json(), str(root)), nprocs=2, join=True, start_method="spawn")
    return root


def _losses(run_dir: Path) -> list[float]:
    return [r["loss"] for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines()) if "loss" in r]


def _assert_same_weights(a: Path, b: Path) -> None:
    left, right = read_safetensors(a), read_safetensors(b)
    assert left.keys() == right.keys()
    for name in left:
        torch.testing.assert_close(left[name], right[name], atol=ATOL, rtol=0, msg=name)


@pytest.mark.slow  # the `runs` fixture: 1 run + spawn of 2 gloo ranks x 3 jobs, ~60 s on the loaded CPU
@pytest.mark.parametrize("strategy", ["ddp", "fsdp", "single-to-fsdp"])
def test_two_processes_train_exactly_like_one_with_the_same_global_batch(runs, strategy):
    """single-to-fsdp: a 1-process (full) checkpoint cut into 2 ranks' FSDP shards, weights and Adam moments."""
    single, distributed = _losses(runs / "single"), _losses(runs / strategy)
    assert len(single) == len(distributed) == 8
    torch.testing.assert_close(torch.tensor(distributed), torch.tensor(single), atol=ATOL, rtol=0)
    assert single[-1] < single[0] - 0.1  # it learned something: the curves are not flat copies of each other
    _assert_same_weights(runs / strategy / "model.safetensors", runs / "single" / "model.safetensors")


def _fresh_model(runs: Path) -> torch.nn.Module:
    return build_model({**MODEL, "vocab_size": load_model(runs / "single").config.vocab_size})


@pytest.mark.slow  # the `runs` fixture: 1 run + spawn of 2 gloo ranks x 3 jobs, ~60 s on the loaded CPU
def test_ddp_checkpoint_is_a_full_one_any_world_size_reads(runs):
    step4 = Path("checkpoints") / "step-000004"
    _assert_same_weights(runs / "ddp" / step4 / "model.safetensors", runs / "single" / step4 / "model.safetensors")
    state = load_checkpoint(runs / "ddp" / step4, _fresh_model(runs))
    assert state["world_size"] == 2 and len(state["torch_rng_ranks"]) == 2


@pytest.mark.slow  # the `runs` fixture: 1 run + spawn of 2 gloo ranks x 3 jobs, ~60 s on the loaded CPU
def test_a_sharded_checkpoint_consolidates_to_the_one_process_weights(runs, tmp_path):
    sharded = runs / "fsdp" / "checkpoints" / "step-000004"
    assert sorted(p.name for p in (sharded / "sharded").glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]
    assert cli(["consolidate", str(sharded), "--out", str(tmp_path / "step4")]) == 0
    single_step4 = runs / "single" / "checkpoints" / "step-000004"
    _assert_same_weights(tmp_path / "step4" / "model.safetensors", single_step4 / "model.safetensors")
    assert load_model(tmp_path / "step4").config.n_layers == 2  # sample / export read it like any model


@pytest.mark.slow  # the `runs` fixture: 1 run + spawn of 2 gloo ranks x 3 jobs, ~60 s on the loaded CPU
@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_a_two_process_run_resumes_on_one_process(runs, tmp_path, strategy):
    """A crash after step 4's checkpoint, then `lmforge train --resume` on one process: the loss continues."""
    crashed = _crashed_after_step_4(runs / strategy, tmp_path / "crashed")
    assert cli(["train", "--out", str(crashed), "--resume"]) == 0
    torch.testing.assert_close(torch.tensor(_losses(crashed)), torch.tensor(_losses(runs / "single")),
                               atol=ATOL, rtol=0)
    _assert_same_weights(crashed / "model.safetensors", runs / "single" / "model.safetensors")


def _crashed_after_step_4(run_dir: Path, copy: Path) -> Path:
    """The run as a kill after its step-4 checkpoint leaves it: no step 8, no final model."""
    shutil.copytree(run_dir, copy)
    shutil.rmtree(copy / "checkpoints" / "step-000008")
    (copy / "model.safetensors").unlink()
    (copy / "checkpoints" / "latest.json").write_text(json.dumps({"step": 4, "dir": "step-000004"}))
    return copy


def test_each_rank_cuts_its_own_disjoint_rows_of_the_same_global_batch(char_data_dir):
    """Two rank samplers, stacked, are the one-process sampler's batches; their saved positions are its own."""
    shards = open_shards(char_data_dir, "train")
    whole = RandomWindowSampler(shards, 16, 6, seed=7)
    ranks = [RandomWindowSampler(shards, 16, 6, seed=7, rank=r, world_size=3) for r in range(3)]
    for _ in range(3):
        inputs, targets = whole.next_batch()
        parts = [sampler.next_batch() for sampler in ranks]
        assert all(part[0].shape == (2, 16) for part in parts)
        assert torch.equal(torch.cat([part[0] for part in parts]), inputs)
        assert torch.equal(torch.cat([part[1] for part in parts]), targets)
    assert all(sampler.state_dict() == whole.state_dict() for sampler in ranks)


# ----------------------------------------------------------------------------- bad input


def _refused(args: list[str], capsys) -> str:
    assert cli(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err, err
    return err


def test_a_world_size_that_does_not_split_the_batch_is_refused_before_anything_is_written(
        char_data_dir, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text("earlier run")
    monkeypatch.setenv("WORLD_SIZE", "3")  # torchrun --nproc_per_node=3; refused before the process group starts
    err = _refused(["train", "--data", str(char_data_dir), "--out", str(out), "--preset", "gpt-tiny",
                    "--batch-size", "4"], capsys)
    assert "--batch-size 4" in err and "3 processes" in err and "e.g. 3" in err
    assert [p.name for p in out.iterdir()] == ["run.json"] and (out / "run.json").read_text() == "earlier run"
    check_global_batch(6, 3)  # a multiple splits


def test_fsdp_without_a_process_group_is_refused(char_data_dir, tmp_path, capsys):
    err = _refused(["train", "--data", str(char_data_dir), "--out", str(tmp_path / "run"), "--preset", "gpt-tiny",
                    "--strategy", "fsdp"], capsys)
    assert "torchrun --nproc_per_node=N" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.slow  # the `runs` fixture: 1 run + spawn of 2 gloo ranks x 3 jobs, ~60 s on the loaded CPU
def test_a_sharded_checkpoint_missing_a_rank_s_shard_is_refused(runs, tmp_path, capsys):
    crashed = _crashed_after_step_4(runs / "fsdp", tmp_path / "crashed")
    (crashed / "checkpoints" / "step-000004" / "sharded" / "__1_0.distcp").unlink()  # node 2's local disk
    metrics = (crashed / "metrics.jsonl").read_text()
    err = _refused(["train", "--out", str(crashed), "--resume"], capsys)
    assert "written by 2 ranks but missing shard file(s) __1_0.distcp" in err and "shares" in err
    assert (crashed / "metrics.jsonl").read_text() == metrics and not (crashed / "model.safetensors").exists()


def test_a_command_that_trains_on_one_process_refuses_to_run_under_torchrun(char_data_dir, tmp_path, monkeypatch,
                                                                            capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")  # e.g. torchrun --nproc_per_node=2 -m lmforge pretrain ...
    err = _refused(["pretrain", "--objective", "clm", "--data", str(char_data_dir), "--out", str(tmp_path / "run"),
                    "--max-steps", "1"], capsys)
    assert "only `lmforge train` spreads a run over processes" in err and not (tmp_path / "run").exists()
    err = _refused(["tune", "--study-dir", str(tmp_path / "study"), "--trials", "1"], capsys)  # a loop of runs
    assert "only `lmforge train`" in err and not (tmp_path / "study").exists()
    err = _refused(["lab", "sequence-lm-race", "--smoke", "--out", str(tmp_path / "lab")], capsys)
    assert "only `lmforge train`" in err and not (tmp_path / "lab").exists()
    err = _refused(["quickstart", "--out", str(tmp_path / "quick")], capsys)  # before it tokenizes anything
    assert "only `lmforge train`" in err and not (tmp_path / "quick").exists()
