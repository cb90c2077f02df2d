"""Training on several processes with ``torchrun``: DDP or FSDP2, behind one object the Trainer asks.

The same command means the same run on 1 or N processes. ``--batch-size`` is the *global* micro-batch:
every process draws the same windows from the same seeded sampler and keeps its own ``batch_size / N``
rows of each, so the N processes together see exactly the batch a single process would, and DDP's
gradient average over ranks equals the single process's mean over the whole batch (the losses are means
over equally many tokens). ``--grad-accum-steps`` micro-batches then make one optimizer step everywhere.

- ``ddp`` (the default when N > 1): every rank holds the whole model; gradients are averaged in backward,
  except on accumulation micro-steps (``no_sync``). Checkpoints are ordinary full checkpoints written by
  rank 0, so they resume on any number of processes.
- ``fsdp``: FSDP2's ``fully_shard`` on every block and the root: each rank holds 1/N of the parameters,
  gradients and optimizer moments. Checkpoints are sharded (``torch.distributed.checkpoint``, one file per
  rank) and reshard on load, so a run saved by N ranks resumes on M ranks, or on one process; a full
  checkpoint resumes as shards too.

Everything that writes (metrics, checkpoints' shared files, the final model, the console) happens on
rank 0 only; every decision that changes control flow (stop for time or Ctrl-C) is agreed by all ranks,
since a rank that stops alone leaves the others waiting in a collective forever.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import torch.distributed as dist
from torch import nn

from lmforge.errors import ConfigError
from lmforge.io import read_json, read_safetensors, write_json
from lmforge.models.base import CausalLM
from lmforge.models.config import config_to_dict
from lmforge.models.registry import CONFIG_FILE, WEIGHTS_FILE, build_model, save_model
from lmforge.train.checkpoint import STATE_FILE, load_checkpoint, publish_checkpoint, save_checkpoint

Strategy = Literal["single", "ddp", "fsdp"]
STRATEGIES = ("auto", "ddp", "fsdp")
SHARDED_DIR = "sharded"  # inside a checkpoint: the DCP files (model + optimizer), one per rank
SHARDING_FILE = "sharding.json"  # inside a checkpoint: how many ranks wrote it, with which strategy


def launch_world_size() -> int:
    """How many processes ``torchrun`` started (its ``WORLD_SIZE``); 1 for a plain ``lmforge`` command."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def launch_rank() -> int:
    """This process's rank under ``torchrun`` (its ``RANK``); 0 for a plain ``lmforge`` command."""
    return int(os.environ.get("RANK", "0"))


def check_global_batch(batch_size: int, world_size: int) -> None:
    """Each rank takes ``batch_size / world_size`` rows of every micro-batch, so the division must be exact."""
    if batch_size % world_size:
        fits = [n for n in range(world_size, 0, -1) if batch_size % n == 0][0]
        raise ConfigError(
            f"--batch-size {batch_size} is the global micro-batch and does not split over {world_size} processes: "
            f"use a multiple of {world_size} (e.g. {world_size * max(1, batch_size // world_size)}, with "
            f"--grad-accum-steps to keep the global batch), or launch {fits} process(es)")


@dataclass
class Distributed:
    """Who this process is in the job (rank of world_size) and how the model is spread over the ranks."""

    rank: int = 0
    world_size: int = 1
    strategy: Strategy = "single"
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    owns_group: bool = False  # this object started the process group, so it ends it (close)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.strategy != "single"

    @property
    def sharded(self) -> bool:
        return self.strategy == "fsdp"

    def check_launch(self) -> None:
        """Refuse to train as N copies of one single-process run (they would write the same files at once)."""
        if not self.active and launch_world_size() > 1:
            raise ConfigError(f"torchrun started {launch_world_size()} processes, but this command trains on one: "
                              "only `lmforge train` spreads a run over processes; run this one without torchrun")

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()

    # ------------------------------------------------------------- the model
    def wrap(self, model: nn.Module) -> nn.Module:
        """The module the training step calls. Call before the optimizer is built (FSDP swaps the parameters)."""
        if self.strategy == "ddp":
            ids = [self.device.index] if self.device.type == "cuda" else None
            # buffers (rotary tables, masks) are constants here: synced once at start, not before every forward
            return nn.parallel.DistributedDataParallel(model, device_ids=ids, forward_sync_buffers=False)
        if self.strategy == "fsdp":
            from torch.distributed.fsdp import fully_shard, register_fsdp_forward_method

            for blocks in [m for m in model.modules() if isinstance(m, nn.ModuleList)]:
                for block in blocks:  # one all-gather per block: only one block's full weights live at a time
                    fully_shard(block)
            # the rest (embeddings, final norm, tied head), kept whole from forward to backward: the causal-LM
            # loss calls model.hidden() and then uses lm_head.weight itself (objectives/linear_ce.py)
            fully_shard(model, reshard_after_forward=False)
            if isinstance(model, CausalLM):
                register_fsdp_forward_method(model, "hidden")
        return model

    @contextlib.contextmanager
    def micro_step(self, forward_model: nn.Module, sync: bool) -> Iterator[None]:
        """One accumulation micro-step; gradients cross ranks only when ``sync`` (the step's last micro-batch)."""
        if self.strategy == "ddp" and not sync:
            with forward_model.no_sync():
                yield
            return
        if self.strategy == "fsdp":
            forward_model.set_requires_gradient_sync(sync)
        yield

    # ------------------------------------------------------------- agreement
    def all_max(self, *values: float) -> tuple[float, ...]:
        """Every rank's values replaced by the largest over ranks (elapsed time, stop flags), in one collective."""
        if not self.active:
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=self._comm_device())
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return tuple(tensor.tolist())

    def mean(self, value: float) -> float:
        """The mean of ``value`` over ranks: the loss of the whole global batch from each rank's share."""
        if not self.active:
            return value
        tensor = torch.tensor([value], dtype=torch.float64, device=self._comm_device())
        dist.all_reduce(tensor)
        return tensor.item() / self.world_size

    def _comm_device(self) -> torch.device:
        return self.device if dist.get_backend() == "nccl" else torch.device("cpu")

    def _gather(self, obj: Any) -> list[Any]:
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    # ------------------------------------------------------------- checkpoints
    def save_checkpoint(self, root: Path, step: int, model: nn.Module, optimizer: torch.optim.Optimizer,
                        state: dict[str, Any], keep: int) -> Path:
        """A checkpoint every rank can resume from: full (one process, DDP) or sharded (FSDP), atomically."""
        if not self.active:
            return save_checkpoint(root, step, model, state, keep)
        state = {**state, "torch_rng_ranks": self._gather(torch.get_rng_state()), "world_size": self.world_size}
        if "cuda_rng" in state:  # each rank's GPU generator too: rank 0's alone would give every rank its masks
            state["cuda_rng_ranks"] = self._gather(state.pop("cuda_rng"))
        if not self.sharded:
            final = save_checkpoint(root, step, model, state, keep) if self.is_main else root / f"step-{step:06d}"
            dist.barrier()  # no rank runs ahead of (or resumes before) the checkpoint it will read
            return final
        return self._save_sharded(root, step, model, optimizer, state, keep)

    def _save_sharded(self, root: Path, step: int, model: nn.Module, optimizer: torch.optim.Optimizer,
                      state: dict[str, Any], keep: int) -> Path:
        """DCP into a temp dir that rank 0 renames into place once every rank's shard is written."""
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import get_state_dict

        final = root / f"step-{step:06d}"
        tmp = [str(Path(tempfile.mkdtemp(dir=_mkdir(root), prefix=".tmp-"))) if self.is_main else None]
        dist.broadcast_object_list(tmp)  # every rank writes its shard into the same temp dir
        tmp_dir = Path(tmp[0])
        model_state, optim_state = get_state_dict(model, optimizer)
        dcp.save({"model": model_state, "optimizer": optim_state}, checkpoint_id=tmp_dir / SHARDED_DIR)
        if self.is_main:
            write_json(tmp_dir / CONFIG_FILE, config_to_dict(model.config, model.family))
            write_json(tmp_dir / SHARDING_FILE, {"world_size": self.world_size, "strategy": self.strategy})
            with open(tmp_dir / STATE_FILE, "wb") as f:  # the temp dir is renamed only when complete
                torch.save({k: v for k, v in state.items() if k != "optimizer"}, f)
        dist.barrier()  # every shard is on disk
        if self.is_main:
            final = publish_checkpoint(root, tmp_dir, step, keep)
        dist.barrier()
        return final

    def load_checkpoint(self, directory: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        """Weights and optimizer moments into ``model`` and ``optimizer``; the training state back.

        Any checkpoint loads on any world size: a full one (one process, DDP) as it is, or cut into this
        job's FSDP shards; a sharded one resharded to this world size through DCP, or into an unsharded model.
        """
        if (directory / SHARDED_DIR).is_dir():
            state = load_sharded(directory, model, optimizer)
        elif self.sharded:
            state = _load_full_into_shards(directory, model, optimizer)
        else:
            state = load_checkpoint(directory, model)
        ranks = state.pop("torch_rng_ranks", None)
        if ranks is not None and len(ranks) == self.world_size:
            state["torch_rng"] = ranks[self.rank]
        elif self.rank > 0:  # another world size: fresh dropout streams for the ranks that did not exist
            state["torch_rng"] = torch.Generator().manual_seed(state["train_config"]["seed"] + self.rank).get_state()
        cuda = state.pop("cuda_rng_ranks", None)  # likewise; a new rank keeps fit()'s seed + rank on its GPU
        if cuda is not None and (self.rank == 0 or len(cuda) == self.world_size):
            state["cuda_rng"] = cuda[self.rank]
        return state

    def save_model(self, model: nn.Module, out_dir: Path) -> None:
        """The final ``model.safetensors`` + ``config.json``: whole, even when the training held shards."""
        if not self.sharded:
            if self.is_main:
                save_model(model, out_dir)
        else:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

            full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
            if self.is_main:  # the gathered tensors land on rank 0 only
                plain = build_model(config_to_dict(model.config, model.family))
                plain.load_state_dict(full)
                save_model(plain, out_dir)
        if self.active:
            dist.barrier()


SINGLE = Distributed()


def setup_distributed(strategy: str = "auto", device: torch.device | None = None) -> Distributed:
    """This process's place in a ``torchrun`` job (starting the process group), or :data:`SINGLE` without one.

    gloo on CPU, nccl on CUDA (each rank on GPU ``LOCAL_RANK``). ``fsdp`` needs a process group:
    without ``torchrun`` there is nothing to shard over, and that is a one-line error.
    """
    if strategy not in STRATEGIES:
        raise ConfigError(f"--strategy {strategy!r}: expected one of {', '.join(STRATEGIES)}")
    device = device or torch.device("cpu")
    if "WORLD_SIZE" not in os.environ and not dist.is_initialized():
        if strategy == "fsdp":
            raise ConfigError("--strategy fsdp shards the model over processes but this is a single process: "
                              "launch with torchrun --nproc_per_node=N -m lmforge train ... (see docs/distributed.md)")
        return SINGLE
    owns = not dist.is_initialized()
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if owns:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    world = dist.get_world_size()
    chosen: Strategy = "fsdp" if strategy == "fsdp" else ("ddp" if world > 1 else "single")
    return Distributed(dist.get_rank(), world, chosen, device, owns)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _check_shards(directory: Path) -> None:
    """Every shard file the DCP metadata names must be here (a multi-node run on node-local disks lacks some)."""
    from torch.distributed.checkpoint import FileSystemReader

    sharded = directory / SHARDED_DIR
    if not (sharded / ".metadata").is_file():
        raise ConfigError(f"{sharded}: no .metadata; the sharded checkpoint is incomplete")
    files = {item.relative_path for item in FileSystemReader(str(sharded)).read_metadata().storage_data.values()}
    missing = sorted(f for f in files if not (sharded / f).is_file())
    if missing:
        writers = read_json(directory / SHARDING_FILE, "sharding record").get("world_size", "?")
        raise ConfigError(
            f"{sharded}: written by {writers} ranks but missing shard file(s) {', '.join(missing)}, so it cannot be "
            f"resharded; on several nodes --out must be a filesystem every node shares (see docs/distributed.md)")


def _load_full_into_shards(directory: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """A full checkpoint into an FSDP model: every rank keeps its shard of the weights and of the moments.

    A full checkpoint's optimizer state numbers parameters in the order the optimizer lists them; FSDP's
    loader wants their names, so the numbers are renamed through this optimizer's (same) order first.
    """
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

    weights = read_safetensors(directory / WEIGHTS_FILE, "checkpoint weights")
    first_name: dict[nn.Parameter, str] = {}
    for name, param in model.named_parameters(remove_duplicate=False):  # tied weights are stored once
        weights.setdefault(name, weights[first_name.setdefault(param, name)])
    # on the CPU first (as train.checkpoint does): set_state_dict copies each rank's shard to its own device
    state = torch.load(directory / STATE_FILE, map_location="cpu", weights_only=True)
    saved = state.pop("optimizer")
    names = [first_name[p] for group in optimizer.param_groups for p in group["params"]]
    moments = {"state": {names[i]: s for i, s in saved["state"].items()},
               "param_groups": [{**g, "params": [names[i] for i in g["params"]]} for g in saved["param_groups"]]}
    set_state_dict(model, optimizer, model_state_dict=weights, optim_state_dict=moments,
                   options=StateDictOptions(full_state_dict=True))
    return state


def load_sharded(directory: Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> dict[str, Any]:
    """A DCP checkpoint into ``model`` (sharded or not) and ``optimizer``; returns the training state."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import (
        get_model_state_dict,
        get_state_dict,
        set_model_state_dict,
        set_state_dict,
    )

    _check_shards(directory)
    if optimizer is None:
        wanted = {"model": get_model_state_dict(model)}
    else:
        model_state, optim_state = get_state_dict(model, optimizer)
        wanted = {"model": model_state, "optimizer": optim_state}
    with _quiet_single_process_warning():
        dcp.load(wanted, checkpoint_id=directory / SHARDED_DIR)
    if optimizer is None:
        set_model_state_dict(model, wanted["model"])
    else:
        set_state_dict(model, optimizer, model_state_dict=wanted["model"], optim_state_dict=wanted["optimizer"])
    return torch.load(directory / STATE_FILE, map_location="cpu", weights_only=True)


@contextlib.contextmanager
def _quiet_single_process_warning() -> Iterator[None]:
    """DCP warns that it 'assumes' a single process when there is no process group: here that is the intent."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        yield


def consolidate(checkpoint: Path, out_dir: Path) -> Path:
    """``model.safetensors`` + ``config.json`` in ``out_dir`` from a sharded checkpoint, in one process."""
    if not (checkpoint / SHARDED_DIR).is_dir():
        raise ConfigError(f"{checkpoint}: not a sharded checkpoint (expected a {SHARDED_DIR}/ folder in it)")
    model = build_model(read_json(checkpoint / CONFIG_FILE, "model config"), str(checkpoint / CONFIG_FILE))
    load_sharded(checkpoint, model)
    save_model(model, out_dir)
    return out_dir


class NoMetrics:
    """What ranks other than 0 log to: nothing (rank 0 writes the run's one ``metrics.jsonl``)."""

    def write(self, record: dict[str, Any]) -> None:
        pass

    def records(self) -> list[dict[str, Any]]:
        return []
