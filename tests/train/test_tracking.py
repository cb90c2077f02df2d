"""TensorBoard scalars mirror metrics.jsonl; `lmforge plot` overlays runs' loss curves."""

import json

import pytest
import torch

from lmforge.data.sampler import RandomWindowSampler
from lmforge.data.shards import open_shards
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.train.metrics import TENSORBOARD_DIR, read_metrics
from lmforge.train.trainer import TrainConfig, Trainer

MODEL = dict(vocab_size=66, context_length=16, d_model=16, n_layers=1, n_heads=2, dropout=0.0)


def _scalars(log_dir, tag):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    acc = event_accumulator.EventAccumulator(str(log_dir))
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


class Killed(Exception):
    pass


class KillAfter(RandomWindowSampler):
    """Batches that stop coming after ``n``, like a process killed mid-run."""

    def __init__(self, shards, n):
        super().__init__(shards, 16, 4, seed=0)
        self.n = n

    def next_batch(self):
        if self.n == 0:
            raise Killed()
        self.n -= 1
        return super().next_batch()


def _fit(data_dir, out, max_steps, resume=False, kill_after=-1):
    torch.manual_seed(0)
    config = TrainConfig(max_steps=max_steps, log_interval=1, eval_interval=2, checkpoint_interval=2,
                         warmup_steps=1, precision="fp32", tensorboard=True)
    batches = KillAfter(open_shards(data_dir, "train"), kill_after)
    val_shards = open_shards(data_dir, "val")

    def val():
        sampler = RandomWindowSampler(val_shards, 16, 4, seed=1)
        return (sampler.next_batch() for _ in range(2))

    return Trainer(GPT(GPTConfig(**MODEL)), config, batches, out, val).fit(resume=resume)


def test_tensorboard_event_file_holds_the_logged_losses(char_data_dir, tmp_path):
    _fit(char_data_dir, tmp_path, max_steps=4)
    records = read_metrics(tmp_path / "metrics.jsonl")
    train = [(r["step"], r["loss"]) for r in records if "loss" in r]
    val = [(r["step"], r["val_loss"]) for r in records if "val_loss" in r]
    assert [s for s, _ in train] == [1, 2, 3, 4] and [s for s, _ in val] == [2, 4]
    assert _scalars(tmp_path / TENSORBOARD_DIR, "train/loss") == pytest.approx(train)  # float32 in the event file
    assert _scalars(tmp_path / TENSORBOARD_DIR, "val/loss") == pytest.approx(val)


def test_resumed_run_drops_the_events_past_its_checkpoint(char_data_dir, tmp_path):
    with pytest.raises(Killed):  # steps 1-3 logged, the last checkpoint at step 2
        _fit(char_data_dir, tmp_path, max_steps=4, kill_after=3)
    assert [s for s, _ in _scalars(tmp_path / TENSORBOARD_DIR, "train/loss")] == [1, 2, 3]
    _fit(char_data_dir, tmp_path, max_steps=4, resume=True)
    steps = [s for s, _ in _scalars(tmp_path / TENSORBOARD_DIR, "train/loss")]
    assert steps == [1, 2, 3, 4]  # each step once: the first session's step 3 was purged
    assert json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 4


def _fake_run(root, name, losses):
    """A run directory as the Trainer writes it: train rows every step, a val row every second step."""
    run = root / name
    run.mkdir()
    rows = []
    for step, loss in enumerate(losses, start=1):
        rows.append({"step": step, "loss": loss, "tokens": 64 * step, "elapsed_s": 0.5 * step})
        if step % 2 == 0:
            rows.append({"step": step, "val_loss": loss + 0.1, "val_bpb": None})
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run


@pytest.mark.parametrize("x", ["steps", "tokens", "time"])
def test_plot_overlays_runs_in_one_png(tmp_path, x):
    from lmforge.viz.runs import curves, plot_runs, read_run

    a = _fake_run(tmp_path, "a", [4.0, 3.5, 3.2, 3.0])
    b = _fake_run(tmp_path, "b", [4.1, 3.9, 3.8, 3.7])
    out = plot_runs([a, b], tmp_path / "runs.png", x)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    records = read_run(a)
    records.append({"step": 5, "val_loss": 2.9, "val_bpb": None})  # a final evaluation after the last logged row
    train_x, _, val_x, val_y = curves(records, x, "a")
    scale = {"steps": 1, "tokens": 64, "time": 0.5}[x]
    assert train_x.tolist() == [scale * s for s in (1, 2, 3, 4)]
    assert val_x.tolist() == [2 * scale, 4 * scale, 5 * scale]  # interpolated, then extrapolated
    assert val_y.tolist() == pytest.approx([3.6, 3.1, 2.9])


def test_plot_of_a_bad_run_dir_is_one_line(tmp_path, capsys):
    from lmforge.cli.main import run

    good = _fake_run(tmp_path, "good", [4.0, 3.0])
    assert run(["plot", str(good), str(tmp_path / "nope"), "--out", str(tmp_path / "p.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert "nope: not a training run directory (no metrics.jsonl)" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "p.png").exists()


def test_train_command_takes_tensorboard_and_warmup_steps(char_data_dir, tmp_path):
    from lmforge.cli.main import run

    out = tmp_path / "run"
    assert run(["train", "--data", str(char_data_dir), "--out", str(out), "--preset", "gpt-tiny", "--max-steps", "2",
                "--warmup-steps", "1", "--precision", "fp32", "--tensorboard"]) == 0
    assert json.loads((out / "run.json").read_text())["train"]["warmup_steps"] == 1
    logged = [(r["step"], r["loss"]) for r in read_metrics(out / "metrics.jsonl") if "loss" in r]
    assert _scalars(out / TENSORBOARD_DIR, "train/loss") == pytest.approx(logged)
