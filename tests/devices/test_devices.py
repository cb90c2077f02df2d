"""``--device``: resolution, batches that follow the model, the CLI refusing a missing GPU before writing
anything, and the same results on CUDA as on CPU (those tests run where a GPU is, and skip elsewhere)."""

import json
from collections import namedtuple
from dataclasses import dataclass

import pytest
import torch

from lmforge import devices
from lmforge.cli.main import run
from lmforge.cli.options import LrScheduleName, OptimizerName
from lmforge.errors import ConfigError, LmforgeError
from lmforge.infer.batch import BatchEngine
from lmforge.infer.engine import GenerationEngine
from lmforge.infer.sampling import SamplingConfig
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.registry import save_model
from lmforge.objectives.clm import causal_lm_loss
from lmforge.serve.backend import ModelBackend
from lmforge.tokenizers import train_tokenizer
from lmforge.train.schedule import LR_SCHEDULES, OPTIMIZERS, wsd_lr
from lmforge.train.trainer import TrainConfig, Trainer

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
VOCAB, T = 50, 16


def _gpt(dropout: float = 0.0) -> GPT:
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=VOCAB, context_length=T, d_model=32, n_layers=2, n_heads=4, dropout=dropout))
    with torch.no_grad():  # larger than the 0.02 init: well-separated logits, so greedy has no near-ties
        for p in model.parameters():
            p.normal_(0, 0.3)
    return model.float()


class _Windows:
    """Seeded random (inputs, targets) batches that can save and restore their position."""

    def __init__(self, batch_size: int = 4) -> None:
        self.batch_size, self.i = batch_size, 0

    def next_batch(self):
        ids = torch.randint(0, VOCAB, (self.batch_size, T + 1), generator=torch.Generator().manual_seed(self.i))
        self.i += 1
        return ids[:, :-1], ids[:, 1:]

    def state_dict(self):
        return {"i": self.i}

    def load_state_dict(self, state):
        self.i = state["i"]


def _config(**kw) -> TrainConfig:
    return TrainConfig(**{**dict(max_steps=4, lr=1e-3, min_lr=1e-4, warmup_steps=1, log_interval=1, eval_interval=100,
                                 checkpoint_interval=100, precision="fp32", seed=1), **kw})


def _records(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


# ----------------------------------------------------------------------------- resolution and batches

def test_auto_is_cpu_without_accelerators_and_a_missing_cuda_is_one_line(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda: False)
    assert devices.resolve_device("auto") == torch.device("cpu")
    assert devices.resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(LmforgeError, match="--device cuda: this machine has no CUDA GPU .*use --device cpu or auto"):
        devices.resolve_device("cuda")
    with pytest.raises(LmforgeError, match="expected one of auto, cpu, cuda, mps"):
        devices.resolve_device("tpu")


def test_move_to_moves_every_tensor_in_nested_batches():
    @dataclass
    class Pair:
        ids: torch.Tensor
        label: str

    Named = namedtuple("Named", "a b")
    batch = {"x": (torch.zeros(2), [torch.ones(1), 3]), "pair": Pair(torch.zeros(3), "y"), "n": Named(torch.ones(2), 1)}
    moved = devices.move_to(batch, torch.device("meta"))  # a device without data: every tensor must go there
    assert moved["x"][0].device.type == "meta" and moved["x"][1][0].device.type == "meta" and moved["x"][1][1] == 3
    assert isinstance(moved["pair"], Pair) and moved["pair"].ids.device.type == "meta" and moved["pair"].label == "y"
    assert isinstance(moved["n"], Named) and moved["n"].a.device.type == "meta" and moved["n"].b == 1
    assert batch["x"][0].device.type == "cpu"  # the input is left as it was


def test_cli_option_choices_are_the_trainers():
    assert tuple(OptimizerName) == OPTIMIZERS and tuple(LrScheduleName) == LR_SCHEDULES


# ----------------------------------------------------------------------------- the CLI refuses a missing GPU

@pytest.mark.parametrize("args", [
    ["pretrain", "--out", "{tmp}/run", "--max-steps", "1"],
    ["train", "--out", "{tmp}/run", "--data", "{tmp}/data", "--max-steps", "1"],
    ["train", "--out", "{tmp}/run", "--resume"],
    ["quickstart", "--out", "{tmp}/run", "--max-steps", "1"],
    ["sample", "{model}", "--max-tokens", "2"],
    ["eval", "perplexity", "{model}", "--data", "{tmp}/text.txt"],
    ["eval", "choice", "{model}", "--data", "{tmp}/items.jsonl", "--out", "{tmp}/scores.jsonl"],
    ["serve", "{model}", "--port", "0"],
    ["translate", "hello", "--model", "{model}"],
    ["translate-train", "--data", "{tmp}/text.txt", "--out", "{tmp}/translator"],
    ["translate-eval", "--model", "{model}"],
    ["predict", "{model}", "some text", "--out", "{tmp}/predictions.jsonl"],
    ["eval", "task", "{model}", "--data", "{tmp}/items.jsonl"],
    ["rag", "index", "{tmp}/text.txt", "--store", "{tmp}/store"],
    ["rag", "search", "abc", "--store", "{tmp}/store"],
    ["rag", "ask", "abc", "--store", "{tmp}/store", "--model", "{model}"],
    ["finetune", "sft", "--data", "{tmp}/items.jsonl", "--model", "{model}", "--out", "{tmp}/sft"],
    ["finetune", "dpo", "--data", "{tmp}/items.jsonl", "--model", "{model}", "--out", "{tmp}/dpo"],
    ["finetune", "classify", "{tmp}/items.jsonl", "--model", "{model}", "--out", "{tmp}/classify"],
    ["finetune", "ner", "{tmp}/items.jsonl", "{tmp}/items.jsonl", "--model", "{model}", "--out", "{tmp}/ner"],
    ["finetune", "reward", "--data", "{tmp}/items.jsonl", "--model", "{model}", "--out", "{tmp}/reward"],
    ["finetune", "grpo", "--model", "{model}", "--out", "{tmp}/grpo"],
    ["finetune", "ppo", "--model", "{model}", "--out", "{tmp}/ppo"],
])
def test_device_cuda_without_cuda_is_one_line_exit_2_and_nothing_written(tmp_path, monkeypatch, capsys, args):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    model_dir = _model_dir(tmp_path / "model")
    (tmp_path / "text.txt").write_text("abc def", encoding="utf-8")
    (tmp_path / "items.jsonl").write_text('{"context": "ab", "choices": ["c", "d"], "answer": 0}\n', encoding="utf-8")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    monkeypatch.chdir(tmp_path)
    argv = [a.format(tmp=tmp_path, model=model_dir) for a in args] + ["--device", "cuda"]
    assert run(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--device cuda: this machine has no CUDA GPU" in err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written


def test_train_cli_takes_the_device_memory_and_optimizer_options(char_data_dir, tmp_path):
    out = tmp_path / "run"
    assert run(["train", "--data", str(char_data_dir), "--out", str(out), "--n-layers", "1", "--d-model", "32",
                "--n-heads", "2", "--context-length", "16", "--batch-size", "2", "--max-steps", "2",
                "--precision", "fp32", "--device", "cpu", "--grad-checkpoint", "--optimizer", "lamb",
                "--lr-schedule", "wsd", "--decay-fraction", "0.5"]) == 0
    train = json.loads((out / "run.json").read_text())["train"]
    assert (train["grad_checkpoint"], train["optimizer"], train["lr_schedule"], train["decay_fraction"]) == (
        True, "lamb", "wsd", 0.5)
    assert run(["train", "--data", str(char_data_dir), "--out", str(tmp_path / "bad"), "--optimizer", "sgd"]) == 2


# ----------------------------------------------------------------------------- the Trainer on an explicit device

def test_trainer_on_an_explicit_cpu_device_with_checkpointing_lion_and_wsd(tmp_path):
    model = _gpt(dropout=0.1)
    config = _config(optimizer="lion", lr_schedule="wsd", decay_fraction=0.5, grad_checkpoint=True)
    trainer = Trainer(model, config, _Windows(), tmp_path, device=torch.device("cpu"))
    assert trainer.device == torch.device("cpu") and model.grad_checkpointing
    before = model.lm_head.weight.detach().clone()
    trainer.fit()
    lrs = [r["lr"] for r in _records(tmp_path) if "lr" in r]
    assert lrs == pytest.approx([wsd_lr(s / 4, 1e-3, 1e-4, 0.25, 0.5) for s in range(4)])  # 0, lr, lr, halfway
    assert not torch.equal(model.lm_head.weight, before)


def test_fp16_is_refused_off_cuda_before_anything_runs(tmp_path):
    with pytest.raises(ConfigError, match="precision fp16 needs a CUDA GPU \\(this run is on cpu\\)"):
        Trainer(_gpt(), _config(precision="fp16"), _Windows(), tmp_path / "run", device=torch.device("cpu"))
    assert not (tmp_path / "run").exists()


def test_muon_under_fsdp_is_refused_before_anything_is_written(tmp_path):
    from lmforge.train.distributed import Distributed

    with pytest.raises(ConfigError, match="optimizer muon .* --strategy fsdp"):
        Trainer(_gpt(), _config(optimizer="muon"), _Windows(), tmp_path / "run", dist=Distributed(strategy="fsdp"))
    assert not (tmp_path / "run").exists()


def test_grad_checkpoint_on_a_plain_module_is_refused(tmp_path):
    model = torch.nn.Sequential(torch.nn.Embedding(VOCAB, 8), torch.nn.Linear(8, VOCAB))
    with pytest.raises(ConfigError, match="a Sequential holds no lmforge model to checkpoint"):
        Trainer(model, _config(grad_checkpoint=True), _Windows(), tmp_path)


# ----------------------------------------------------------------------------- CUDA (skipped without a GPU)

@CUDA
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_trainer_steps_on_cuda(tmp_path, precision):
    """CPU batches go to the GPU, autocast runs there, fp16 gets an active GradScaler, and the first step's loss
    (before any update) matches the CPU's."""
    cpu = Trainer(_gpt(), _config(max_steps=1), _Windows(), tmp_path / "cpu", device=torch.device("cpu"))
    cpu.fit()
    gpu_model = _gpt()
    trainer = Trainer(gpu_model, _config(precision=precision, grad_checkpoint=True), _Windows(), tmp_path / "gpu",
                      device=torch.device("cuda"))
    result = trainer.fit()
    assert result.precision.precision == precision and next(gpu_model.parameters()).is_cuda
    assert trainer.scaler.is_enabled() == (precision == "fp16")
    losses = [r["loss"] for r in _records(tmp_path / "gpu") if "loss" in r]
    tolerance = 1e-4 if precision == "fp32" else 5e-2
    assert losses[0] == pytest.approx(_records(tmp_path / "cpu")[0]["loss"], abs=tolerance)
    assert losses[-1] < losses[0]


class _Killed(Exception):
    pass


class _DieAfter(_Windows):
    """Dies after ``n`` batches, like a killed process."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def next_batch(self):
        if self.i == self.n:
            raise _Killed
        return super().next_batch()


@CUDA
def test_a_resumed_cuda_run_with_dropout_continues_exactly(tmp_path):
    """The CUDA generator (dropout's masks on the GPU) is in the checkpoint: no replay of the first steps' masks."""
    config = _config(max_steps=6, checkpoint_interval=3)
    cuda = torch.device("cuda")
    Trainer(_gpt(dropout=0.2), config, _Windows(), tmp_path / "straight", device=cuda).fit()
    with pytest.raises(_Killed):  # 3 steps and a checkpoint, then killed in step 5
        Trainer(_gpt(dropout=0.2), config, _DieAfter(4), tmp_path / "resumed", device=cuda).fit()
    Trainer(_gpt(dropout=0.2), config, _Windows(), tmp_path / "resumed", device=cuda).fit(resume=True)
    losses = [[r["loss"] for r in _records(tmp_path / run) if "loss" in r] for run in ("straight", "resumed")]
    assert losses[1][-3:] == pytest.approx(losses[0][-3:], abs=1e-6)


@CUDA
def test_greedy_generation_on_cuda_equals_cpu():
    prompt, config = [1, 2, 3, 4], SamplingConfig(max_new_tokens=12, temperature=0.0)
    on_cpu = GenerationEngine(_gpt()).generate(prompt, config)
    on_gpu = GenerationEngine(_gpt().to("cuda")).generate(prompt, config)
    assert on_gpu == on_cpu and len(on_cpu) == 12


@CUDA
def test_batched_serving_engine_on_cuda_equals_cpu():
    prompts, config = [[1, 2, 3], [5, 6, 7, 8, 9], [4]], SamplingConfig(max_new_tokens=8, temperature=0.0)
    on_cpu = BatchEngine(_gpt(), max_batch=4).generate_many(prompts, [config] * 3)
    engine = BatchEngine(_gpt().to("cuda"), max_batch=4)
    assert engine.device.type == "cuda"
    assert engine.generate_many(prompts, [config] * 3) == on_cpu


def _model_dir(path):
    save_model(_gpt(), path)
    train_tokenizer("char", "abcdefghij klmnop").save(path / "tokenizer.json")
    return path


def test_generation_loaded_on_an_explicit_cpu_device_equals_the_default(tmp_path):
    from lmforge.infer.loading import load_for_generation

    config = SamplingConfig(max_new_tokens=8, temperature=0.0)
    engine, _ = load_for_generation(_model_dir(tmp_path), torch.device("cpu"))
    assert next(engine.model.parameters()).device == torch.device("cpu")
    assert engine.generate([1, 2, 3], config) == GenerationEngine(_gpt()).generate([1, 2, 3], config)


def test_serve_backend_builds_on_the_device_it_is_given(tmp_path):
    backend = ModelBackend(_model_dir(tmp_path), device=torch.device("cpu"))
    assert next(backend.model.parameters()).device == torch.device("cpu")
    assert backend.batcher(2).engine.device == torch.device("cpu")


@CUDA
def test_serve_backend_on_cuda_replies_like_cpu(tmp_path):
    config = SamplingConfig(max_new_tokens=10, temperature=0.0)
    on_cpu = ModelBackend(_model_dir(tmp_path), device=torch.device("cpu")).engine.generate([1, 2, 3], config)
    gpu = ModelBackend(tmp_path, device=torch.device("cuda"))
    assert gpu.batcher(2).engine.device.type == "cuda"
    assert gpu.engine.generate([1, 2, 3], config) == on_cpu


@CUDA
def test_cuda_loss_matches_cpu_in_fp32():
    batch = _Windows().next_batch()
    cpu = causal_lm_loss(_gpt(), batch)
    gpu = causal_lm_loss(_gpt().to("cuda"), devices.move_to(batch, torch.device("cuda")))
    assert float(gpu) == pytest.approx(float(cpu), abs=1e-4)
