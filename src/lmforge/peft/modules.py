"""Swapping one submodule of a model for another, by its dotted name.

LoRA (wrap a linear layer in an adapter) and NF4 (replace it by a quantized one) both
rewrite a model in place this way; the helper lives here so that neither module has to
import the other for it.
"""

from __future__ import annotations

from torch import nn


def replace_module(model: nn.Module, name: str, module: nn.Module) -> None:
    """Put ``module`` where ``model.get_submodule(name)`` was (``name`` as in ``named_modules``)."""
    parent_name, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, leaf, module)
