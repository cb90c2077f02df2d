"""Which device a command runs on: ``--device auto|cpu|cuda|mps``, resolved once and passed down.

Every command that trains, generates, evaluates or serves takes ``--device``; library code receives a
``torch.device`` and never assumes CPU. ``auto`` picks CUDA if present, else Apple's MPS, else CPU, so the
same command line works on a laptop and a GPU machine. Asking for a device that is not there is a user
mistake reported in one line (the CLI exits 2), not a CUDA stack trace from deep inside a forward pass.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import torch

from lmforge.errors import LmforgeError

DeviceName = Literal["auto", "cpu", "cuda", "mps"]
DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``auto`` -> cuda / mps / cpu (the first present); ``cuda:1`` style indices are accepted.

    Raises :class:`LmforgeError` naming the device and what this machine has when it is missing.
    """
    if isinstance(name, torch.device):
        name = str(name)
    kind, _, index = name.partition(":")
    if kind == "auto" and not index:
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if kind not in DEVICE_CHOICES[1:] or (index and not index.isdigit()):
        raise LmforgeError(f"--device {name!r}: expected one of {', '.join(DEVICE_CHOICES)} (or cuda:N)")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise LmforgeError(f"--device {name}: this machine has no CUDA GPU that torch can use "
                               f"({available_devices()} available); use --device cpu or auto")
        if index and int(index) >= torch.cuda.device_count():
            raise LmforgeError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) here")
    if kind == "mps" and not _mps_available():
        raise LmforgeError(f"--device mps: Apple MPS is not available here ({available_devices()} available)")
    return torch.device(name)


def available_devices() -> str:
    """``cpu, cuda (2 x NVIDIA H100)``: what :func:`resolve_device` could pick, for messages and ``info``."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found.append(f"cuda ({torch.cuda.device_count()} x {torch.cuda.get_device_name(0)})")
    if _mps_available():
        found.append("mps")
    return ", ".join(found)


def module_device(model: object) -> torch.device:
    """Where ``model``'s parameters live: inputs built for it go there (a plain function counts as CPU)."""
    if isinstance(model, torch.nn.Module):
        for p in model.parameters():
            return p.device
    return torch.device("cpu")


def move_to(batch: Any, device: torch.device) -> Any:
    """``batch`` with every tensor on ``device``: tensors, and tuples, lists, dicts and dataclasses of them
    (nested); anything else (ints, strings, masks built later) is returned as it is.

    Host-to-GPU copies are ``non_blocking``: the copy overlaps with work already queued on the GPU, and
    a page-locked (pinned) source makes it truly asynchronous.
    """
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=device.type == "cuda")
    if dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        fields = {f.name: move_to(getattr(batch, f.name), device) for f in dataclasses.fields(batch) if f.init}
        return dataclasses.replace(batch, **fields)
    if isinstance(batch, dict):
        return {key: move_to(value, device) for key, value in batch.items()}
    if isinstance(batch, (tuple, list)):
        moved = [move_to(value, device) for value in batch]
        return type(batch)(*moved) if hasattr(batch, "_fields") else type(batch)(moved)  # namedtuples too
    return batch
