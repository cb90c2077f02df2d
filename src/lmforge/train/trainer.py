"""The one training loop. Pretraining, fine-tuning, LoRA, DPO and distillation
all use it: they differ only in the batches they feed and the loss function.

Per optimizer step::

    for each of grad_accum_steps micro-batches:   # a large batch in small pieces
        loss = loss_fn(model, batch) / grad_accum_steps
        loss.backward()                           # gradients add up across pieces
    clip the global gradient norm                 # one bad batch cannot blow up the weights
    optimizer step (AdamW, LAMB, Lion, Adafactor, Muon) with the scheduled learning rate

Batches follow the model to its device (``--device``); fp16 on CUDA adds a GradScaler around
backward and the step, and ``grad_checkpoint`` recomputes each block's activations in backward.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import torch
from rich.console import Console
from rich.progress import TextColumn
from torch import nn

from lmforge.devices import move_to
from lmforge.errors import ConfigError
from lmforge.models.base import ModelBase
from lmforge.objectives.clm import causal_lm_loss
from lmforge.precision import (
    Precision,
    PrecisionChoice,
    StepTimer,
    autocast,
    grad_scaler,
    resolve_precision,
)
from lmforge.progress import progress_bar
from lmforge.seeding import rng_states, seed_everything, set_rng_states
from lmforge.train.checkpoint import latest_checkpoint
from lmforge.train.distributed import SINGLE, Distributed, NoMetrics
from lmforge.train.metrics import TENSORBOARD_DIR, MetricsLog, plot_loss
from lmforge.train.schedule import LR_SCHEDULES, OPTIMIZERS, make_optimizer, scheduled_lr

LossFn = Callable[[nn.Module, Any], torch.Tensor]
Schedule = Literal["steps", "time"]


class BatchSource(Protocol):
    """Anything that yields training batches and can save/restore its position."""

    def next_batch(self) -> Any: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass
class TrainConfig:
    # None: no step limit, the run ends when its time budget (max_minutes) is spent
    max_steps: int | None = 2000
    grad_accum_steps: int = 1
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    eval_interval: int = 250
    log_interval: int = 10
    checkpoint_interval: int = 500
    keep_checkpoints: int = 2
    max_minutes: float | None = None  # time budget: training stops when it is spent
    # what the LR schedule follows: "steps" (repeatable) or "time" (ends with the budget; see lr_schedule_for).
    # None: "time" when max_minutes is set, as max_steps' default is no one's choice.
    schedule: Schedule | None = None
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    optimizer: str = "adamw"  # one of schedule.OPTIMIZERS
    muon_lr: float = 0.02  # optimizer "muon": peak lr of its matrices (Keller Jordan's default); `lr` is AdamW's
    lr_schedule: str = "cosine"  # one of schedule.LR_SCHEDULES
    decay_fraction: float = 0.2  # WSD: the share of training spent decaying
    grad_checkpoint: bool = False  # recompute each block's activations in backward (less memory, ~1/3 slower)
    tensorboard: bool = False  # also log the metrics as TensorBoard scalars in out_dir/tensorboard
    compile: bool = False
    seed: int = 1337

    def __post_init__(self) -> None:
        if self.schedule is None:
            self.schedule = lr_schedule_for(self.max_minutes, None)

    def validate(self) -> None:
        if self.schedule not in ("steps", "time"):
            raise ConfigError(f"schedule must be 'steps' or 'time', got {self.schedule!r}")
        if self.schedule == "time" and self.max_minutes is None:
            raise ConfigError("schedule 'time' follows the time budget: it needs max_minutes")
        if self.max_steps is None and self.schedule != "time":
            raise ConfigError("max_steps=None trains until the time budget is spent: it needs max_minutes")
        if (self.max_steps is not None and self.max_steps <= 0) or self.grad_accum_steps <= 0:
            raise ConfigError("max_steps and grad_accum_steps must be positive")
        if self.muon_lr <= 0:
            raise ConfigError(f"muon_lr must be positive, got {self.muon_lr}")
        if self.lr <= 0 or self.min_lr < 0 or self.min_lr > self.lr:
            raise ConfigError(f"need 0 <= min_lr <= lr and lr > 0 (got lr={self.lr}, min_lr={self.min_lr})")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}")
        if not 0.0 < self.decay_fraction <= 1.0:
            raise ConfigError(f"decay_fraction must be in (0, 1], got {self.decay_fraction}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ConfigError(f"max_minutes must be positive, got {self.max_minutes}")


def lr_schedule_for(max_minutes: float | None, explicit_max_steps: int | None) -> Schedule:
    """What the LR follows, given a run's time budget and the step count its user asked for (None: not asked).

    Only a run budgeted by time alone follows the clock (so a slower CPU still finishes its schedule);
    with explicit steps the LR follows steps, so the same command with the same seed repeats exactly.
    """
    return "time" if max_minutes is not None and explicit_max_steps is None else "steps"


def _shapes(batch: Any) -> str:
    """The tensor shapes and dtypes in a batch (tensors, sequences, dicts, dataclasses), for a cache key."""
    if isinstance(batch, torch.Tensor):
        return f"{tuple(batch.shape)}:{str(batch.dtype).removeprefix('torch.')}"
    if dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        batch = {f.name: getattr(batch, f.name) for f in dataclasses.fields(batch)}
    if isinstance(batch, dict):
        return "{" + ", ".join(f"{k}: {_shapes(v)}" for k, v in batch.items()) + "}"
    if isinstance(batch, (tuple, list)):
        return "(" + ", ".join(_shapes(v) for v in batch) + ")"
    return type(batch).__name__


@dataclass
class TrainResult:
    steps: int
    val_loss: float | None
    val_bpb: float | None
    elapsed_s: float
    tokens_per_s: float
    stop_reason: str
    precision: PrecisionChoice


def _checkpoint_blocks(model: nn.Module) -> None:
    """Turn on activation checkpointing in every lmforge model inside ``model`` (a task head wraps its backbone)."""
    models = [m for m in model.modules() if isinstance(m, ModelBase)]
    if not models:
        raise ConfigError(f"--grad-checkpoint: a {type(model).__name__} holds no lmforge model to checkpoint")
    for m in models:
        m.set_grad_checkpointing(True)


def _count_tokens(batch: Any) -> int:
    first = batch[0] if isinstance(batch, (tuple, list)) else batch
    return first.numel() if isinstance(first, torch.Tensor) else 0


class Trainer:
    def __init__(
        self,
        model: nn.Module,
        config: TrainConfig,
        train_batches: BatchSource,
        out_dir: str | Path,
        val_batches: Callable[[], Iterable[Any]] | None = None,
        loss_fn: LossFn = causal_lm_loss,
        tokens_per_byte: float | None = None,
        console: Console | None = None,
        loss_label: str = "cross-entropy (nats/token)",
        device: torch.device | None = None,
        dist: Distributed = SINGLE,
        on_eval: Callable[[int, float], None] | None = None,
    ) -> None:
        config.validate()
        # None: wherever the model already is. The model moves before the optimizer is built (its state lives there).
        self.device = device if device is not None else next(model.parameters()).device
        if config.precision == "fp16":  # refused off CUDA now, before a step is taken or a file written
            resolve_precision(config.precision, device=self.device.type)
        model.to(self.device)
        if config.grad_checkpoint:
            _checkpoint_blocks(model)
        self.model, self.config, self.train_batches = model, config, train_batches
        self.val_batches, self.loss_fn = val_batches, loss_fn
        self.dist = dist  # torchrun: this rank's place; the batches are already this rank's share
        if dist.sharded and config.optimizer == "muon":  # refused before anything is wrapped or written
            raise ConfigError("optimizer muon orthogonalizes whole weight matrices, but under --strategy fsdp each "
                              "rank holds a shard of each (not supported): use --strategy ddp or another optimizer")
        dist.check_launch()
        self.on_eval = on_eval  # (step, val loss) after each periodic evaluation; raising stops the run (tune)
        self.forward_model = dist.wrap(model)  # DDP's wrapper or FSDP's sharded model: before the optimizer
        self.tokens_per_byte = tokens_per_byte  # turns nats/token into bits/byte
        self.loss_label = loss_label  # the y axis of loss.png: what loss_fn measures
        self.out_dir = Path(out_dir)
        self.console = (console or Console(stderr=True)) if dist.is_main else Console(quiet=True)
        self.optimizer = make_optimizer(model, config.lr, config.weight_decay, (config.beta1, config.beta2),
                                        config.optimizer, muon_lr=config.muon_lr)
        self.step = 0
        self.elapsed_before = 0.0  # seconds spent in earlier (resumed-from) sessions
        self.tokens_seen = 0
        self.precision = PrecisionChoice("fp32", "not yet resolved")  # fit() resolves config.precision
        self.scaler = grad_scaler("fp32", self.device.type)  # fit() makes it fp16's when that is the precision

    def _next_batch(self) -> Any:
        """The next training batch, on the model's device (CPU batches are used as they are)."""
        batch = self.train_batches.next_batch()
        return batch if self.device.type == "cpu" else move_to(batch, self.device)

    # ----------------------------------------------------------------- precision
    def _resolve_precision(self) -> PrecisionChoice:
        """``config.precision`` made concrete; "auto" may time this model's own training step."""
        if self.config.precision != "auto" or self.device.type != "cpu" or self.dist.active:  # ranks must agree
            return resolve_precision(self.config.precision, device=self.device.type)
        with self._untouched():
            batch = self._next_batch()
            loss_fn = copy.deepcopy(self.loss_fn)  # an objective that keeps statistics (DPO) must not see these steps
            trainable = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
            signature = (f"{type(self.model).__name__} {sum(p.numel() for p in self.model.parameters())} params "
                         f"({trainable} trainable), loss {getattr(loss_fn, '__qualname__', type(loss_fn).__name__)}, "
                         f"batch {_shapes(batch)}")

            def time_step(precision: Precision) -> float:
                start = time.perf_counter()
                with autocast(precision):
                    loss = loss_fn(self.model, batch)
                loss.backward()
                elapsed = time.perf_counter() - start
                self.model.zero_grad(set_to_none=True)
                return elapsed

            return resolve_precision("auto", StepTimer(signature, time_step))

    @contextlib.contextmanager
    def _untouched(self):
        """Run steps that leave no trace: weights (no optimizer step), grads, RNGs and data position as they were."""
        data_state = copy.deepcopy(self.train_batches.state_dict())
        rngs, was_training = rng_states(), self.model.training
        self.model.train()
        try:
            yield
        finally:
            self.model.zero_grad(set_to_none=True)
            self.model.train(was_training)
            self.train_batches.load_state_dict(data_state)
            set_rng_states(rngs)

    # ----------------------------------------------------------------- schedule
    def lr_at(self, step: int, elapsed_s: float) -> float:
        """The learning rate of step ``step`` after ``elapsed_s`` seconds of training.

        "steps": warm-up and decay are fractions of ``max_steps``. "time": the decay follows the clock (or the
        step cap, whichever is further along), and warm-up is a ramp over ``warmup_steps`` *steps* up to that
        curve: warm-up exists to keep the first, noisy Adam updates small, which is a count of updates, however
        long the budget.
        """
        c = self.config
        if c.schedule == "steps":
            return scheduled_lr(c.lr_schedule, step / c.max_steps, c.lr, c.min_lr, c.warmup_steps / c.max_steps,
                                c.decay_fraction)
        progress = elapsed_s / (60 * c.max_minutes)  # validate() ensured a time budget
        if c.max_steps is not None:
            progress = max(progress, step / c.max_steps)
        decayed = scheduled_lr(c.lr_schedule, progress, c.lr, c.min_lr, 0.0, c.decay_fraction)
        return min(c.lr * step / c.warmup_steps, decayed) if c.warmup_steps else decayed

    # ----------------------------------------------------------------- state
    def _state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "elapsed_s": self._elapsed(),
            "tokens_seen": self.tokens_seen,
            "optimizer": self.optimizer.state_dict(),
            "data": self.train_batches.state_dict(),
            "torch_rng": torch.get_rng_state(),
            # dropout on a GPU draws from the CUDA generator (a CPU ByteTensor: loads with map_location="cpu")
            **({"cuda_rng": torch.cuda.get_rng_state(self.device)} if self.device.type == "cuda" else {}),
            "train_config": dataclasses.asdict(self.config),
            "grad_scaler": self.scaler.state_dict(),  # empty unless fp16
        }

    def _restore(self, state: dict[str, Any]) -> None:
        self.step, self.elapsed_before = state["step"], state["elapsed_s"]
        self.tokens_seen = state["tokens_seen"]
        if "optimizer" in state:  # a sharded checkpoint restored it through DCP
            self.optimizer.load_state_dict(state["optimizer"])
        self.train_batches.load_state_dict(state["data"])
        torch.set_rng_state(state["torch_rng"])
        if self.device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self._scaler_state = state.get("grad_scaler") or None  # applied once fit() has built the scaler
        self._last_checkpoint_step = self.step  # a run resumed with nothing left to do does not save it again

    def _elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self._session_start

    def save_checkpoint(self) -> Path:
        self._last_checkpoint_step = self.step
        return self.dist.save_checkpoint(self.out_dir / "checkpoints", self.step, self.model, self.optimizer,
                                         self._state(), self.config.keep_checkpoints)

    # ----------------------------------------------------------------- evaluation
    @torch.no_grad()
    def evaluate(self) -> tuple[float, float | None]:
        """Mean validation loss (nats/token) and, when known, bits per byte."""
        assert self.val_batches is not None
        self.model.eval()
        losses = []
        with autocast(self.precision.precision, self.device.type):
            for batch in self.val_batches():
                losses.append(self.loss_fn(self.model, move_to(batch, self.device)).item())
        self.model.train()
        loss = sum(losses) / len(losses)
        bpb = loss * self.tokens_per_byte / math.log(2) if self.tokens_per_byte else None
        return loss, bpb

    # ----------------------------------------------------------------- the loop
    def fit(self, resume: bool = False) -> TrainResult:
        c = self.config
        seed_everything(c.seed + self.dist.rank)  # ranks draw different dropout masks
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if resume:
            ckpt = latest_checkpoint(self.out_dir / "checkpoints")
            if ckpt is None:
                raise ConfigError(f"--resume: no checkpoint found in {self.out_dir / 'checkpoints'}")
            self._restore(self.dist.load_checkpoint(ckpt, self.model, self.optimizer))
            self.console.print(f"resumed from {ckpt} (step {self.step})")
        self.precision = self._resolve_precision()
        self.console.print(f"precision: [bold]{self.precision.precision}[/bold] ({self.precision.reason})"
                           + ("" if self.device.type == "cpu" else f" on {self.device}"))
        self.scaler = grad_scaler(self.precision.precision, self.device.type)
        if self.scaler.is_enabled() and getattr(self, "_scaler_state", None):
            self.scaler.load_state_dict(self._scaler_state)
        tensorboard = self.out_dir / TENSORBOARD_DIR if c.tensorboard else None
        metrics = (MetricsLog(self.out_dir / "metrics.jsonl", self.step if resume else None, tensorboard)
                   if self.dist.is_main else NoMetrics())
        forward_model = torch.compile(self.forward_model) if c.compile else self.forward_model
        self.model.train()
        self._session_start = time.perf_counter()
        stop_reason, val_loss, val_bpb = "max_steps", None, None
        window_tokens, window_start = 0, time.perf_counter()
        stats = TextColumn("{task.fields[stats]}")
        with progress_bar(stats, console=self.console) as bar, self._stop_on_ctrl_c():
            task = bar.add_task("training", total=c.max_steps, completed=self.step, stats="")
            while c.max_steps is None or self.step < c.max_steps:
                elapsed, interrupted = self.dist.all_max(self._elapsed(), self._interrupted)  # all ranks agree
                if c.max_minutes is not None and elapsed >= 60 * c.max_minutes:
                    stop_reason = "time budget"
                    break
                if interrupted:
                    stop_reason = "interrupted"
                    bar.console.print("[yellow]interrupted: saving a checkpoint (Ctrl-C again to quit at once)")
                    break
                lr = self.lr_at(self.step, elapsed)
                for group in self.optimizer.param_groups:  # Muon's matrices: muon_lr, on the same schedule
                    group["lr"] = lr * group.get("lr_scale", 1.0)
                loss_sum = torch.zeros((), device=self.device)  # summed on the device: one host sync per step
                for micro in range(c.grad_accum_steps):
                    batch = self._next_batch()
                    sync = micro == c.grad_accum_steps - 1  # ranks average gradients on the last one only
                    precision, device = self.precision.precision, self.device.type
                    with self.dist.micro_step(forward_model, sync), autocast(precision, device):
                        loss = self.loss_fn(forward_model, batch) / c.grad_accum_steps
                    self.scaler.scale(loss).backward()  # fp16: a scaled loss, so small gradients survive
                    loss_sum += loss.detach().float()
                    window_tokens += _count_tokens(batch) * self.dist.world_size  # every rank's share
                self.scaler.unscale_(self.optimizer)  # clip the true gradients, not the scaled ones
                grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), c.grad_clip)
                self.scaler.step(self.optimizer)  # fp16: skipped when a gradient overflowed
                self.scaler.update()
                self.optimizer.zero_grad(set_to_none=True)
                loss_sum = self.dist.mean(loss_sum.item())  # the global batch's loss
                self.step += 1
                if self.step % c.log_interval == 0 or self.step == 1:
                    now = time.perf_counter()
                    tok_s = window_tokens / max(now - window_start, 1e-9)
                    self.tokens_seen += window_tokens
                    window_tokens, window_start = 0, now
                    metrics.write({"step": self.step, "loss": loss_sum, "lr": lr, "grad_norm": float(grad_norm),
                                   "tok_per_s": tok_s, "tokens": self.tokens_seen, "elapsed_s": self._elapsed()})
                    bar.update(task, stats=f"loss {loss_sum:.3f} · {tok_s:,.0f} tok/s")
                if self.val_batches is not None and self.step % c.eval_interval == 0:
                    val_loss, val_bpb = self.evaluate()
                    metrics.write({"step": self.step, "val_loss": val_loss, "val_bpb": val_bpb})
                    bar.console.print(f"step {self.step}: val loss {val_loss:.4f}"
                                      + (f" · {val_bpb:.4f} bits/byte" if val_bpb else ""))
                    if self.on_eval is not None:
                        self.on_eval(self.step, val_loss)
                if self.step % c.checkpoint_interval == 0:
                    self.save_checkpoint()
                bar.update(task, completed=self.step)
        return self._finish(metrics, stop_reason, val_loss, val_bpb)

    @contextlib.contextmanager
    def _stop_on_ctrl_c(self):
        """First Ctrl-C: finish the current step, then stop cleanly with a checkpoint. Second: quit at once."""
        self._interrupted = False
        if threading.current_thread() is not threading.main_thread():
            yield  # signal handlers can only be installed from the main thread
            return

        def handler(signum, frame):
            if self._interrupted:
                raise KeyboardInterrupt
            self._interrupted = True

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _finish(self, metrics: MetricsLog, stop_reason: str, val_loss: float | None,
                val_bpb: float | None) -> TrainResult:
        if self.val_batches is not None and (val_loss is None or self.step % self.config.eval_interval):
            val_loss, val_bpb = self.evaluate()
            metrics.write({"step": self.step, "val_loss": val_loss, "val_bpb": val_bpb})
        if getattr(self, "_last_checkpoint_step", None) != self.step:
            self.save_checkpoint()
        self.dist.save_model(self.model, self.out_dir)
        records = metrics.records()
        if self.dist.is_main:
            plot_loss(records, self.out_dir / "loss.png", ylabel=self.loss_label)
        elapsed = self._elapsed()
        speeds = [r["tok_per_s"] for r in records if "tok_per_s" in r and r["step"] > 1]
        tok_s = sum(speeds) / len(speeds) if speeds else 0.0
        return TrainResult(self.step, val_loss, val_bpb, elapsed, tok_s, stop_reason, self.precision)
