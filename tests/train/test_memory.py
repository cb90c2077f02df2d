"""Memory savers change memory, not maths: activation checkpointing gives the same gradients, and
gradient accumulation of 4 micro-batches of 2 gives the same step as one batch of 8, through the one Trainer."""

import json

import pytest
import torch

from lmforge.errors import ConfigError
from lmforge.models.bert import Bert, BertConfig
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.llama import Llama, LlamaConfig
from lmforge.objectives.clm import causal_lm_loss
from lmforge.train.trainer import TrainConfig, Trainer

VOCAB, T = 40, 12


def _tiny(family: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if family == "gpt":  # dropout on: the recomputed forward must replay the same dropout masks
        return GPT(GPTConfig(vocab_size=VOCAB, context_length=T, d_model=32, n_layers=3, n_heads=2, dropout=0.1))
    return Llama(LlamaConfig(vocab_size=VOCAB, context_length=T, d_model=32, n_layers=3, n_heads=4, n_kv_heads=2,
                             d_mlp=48, dropout=0.1))


def _batch(n: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(0, VOCAB, (n, T + 1), generator=torch.Generator().manual_seed(seed))
    return ids[:, :-1], ids[:, 1:]


def _grads(model: torch.nn.Module, checkpointed: bool) -> dict[str, torch.Tensor]:
    model.set_grad_checkpointing(checkpointed)
    model.zero_grad(set_to_none=True)
    torch.manual_seed(7)
    causal_lm_loss(model.train(), _batch(4)).backward()
    return {name: p.grad.clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("family", ["gpt", "llama"])
def test_grad_checkpointing_gives_the_same_gradients(family):
    model = _tiny(family).float()
    plain, checkpointed = _grads(model, False), _grads(model, True)
    assert plain.keys() == checkpointed.keys()
    for name, grad in plain.items():
        torch.testing.assert_close(checkpointed[name], grad, atol=1e-6, rtol=0, msg=name)


def test_grad_checkpointing_actually_recomputes_the_blocks():
    """The forward of every block runs twice per step with checkpointing on (once without): it is really on."""
    model = _tiny("gpt")
    calls = []

    def counted(forward):  # counts calls of forward itself (checkpoint's recompute skips module hooks)
        return lambda *args: calls.append(1) or forward(*args)

    for block in model.blocks:
        block.forward = counted(block.forward)
    _grads(model, False)
    plain = len(calls)
    _grads(model, True)
    assert plain == 3 and len(calls) - plain == 6


def test_grad_checkpointing_is_refused_by_a_family_without_a_block_stack():
    model = Bert(BertConfig(vocab_size=VOCAB, context_length=T, d_model=16, n_layers=1, n_heads=2))
    with pytest.raises(ConfigError, match="'bert' model cannot checkpoint activations"):
        model.set_grad_checkpointing(True)


class _Fixed:
    """The same 8 examples every step: whole (accumulation 1) or as 4 micro-batches of 2 (accumulation 4)."""

    def __init__(self, micro_batch: int) -> None:
        inputs, targets = _batch(8)
        self.pieces = list(zip(inputs.split(micro_batch), targets.split(micro_batch), strict=True))
        self.i = 0

    def next_batch(self):
        piece = self.pieces[self.i % len(self.pieces)]
        self.i += 1
        return piece

    def state_dict(self):
        return {"i": self.i}

    def load_state_dict(self, state):
        self.i = state["i"]


def _one_step(tmp_path, micro_batch: int, accum: int, dtype: torch.dtype):
    """One Trainer step; returns the logged loss, the gradients the optimizer stepped with, and the new weights."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=VOCAB, context_length=T, d_model=32, n_layers=2, n_heads=2, dropout=0.0))
    config = TrainConfig(max_steps=1, grad_accum_steps=accum, lr=1e-2, min_lr=1e-3, warmup_steps=0,
                         grad_clip=0.5, log_interval=1, eval_interval=100, checkpoint_interval=100,
                         precision="fp32", seed=3)
    out = tmp_path / f"{dtype}-accum{accum}"
    trainer = Trainer(model.to(dtype), config, _Fixed(micro_batch), out, device=torch.device("cpu"))
    grads = {}
    trainer.optimizer.register_step_pre_hook(
        lambda *_: grads.update({name: p.grad.clone() for name, p in model.named_parameters()}))
    trainer.fit()
    loss = next(r["loss"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if "loss" in r)
    return loss, grads, {name: p.detach().clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_accumulating_4_batches_of_2_equals_one_batch_of_8(tmp_path, dtype):
    """Same loss, same (clipped) gradients into the optimizer, same weights after the step.

    Weights are compared in fp64 only: AdamW's first step is g / (|g| + eps), which turns fp32 rounding
    differences of the order of 1e-9 (the micro-batches sum in another order) in a gradient near eps
    into a difference of the order of lr in that one weight; in fp64 the rounding is too small for it.
    """
    loss8, grads8, params8 = _one_step(tmp_path, micro_batch=8, accum=1, dtype=dtype)
    loss2x4, grads2x4, params2x4 = _one_step(tmp_path, micro_batch=2, accum=4, dtype=dtype)
    assert loss2x4 == pytest.approx(loss8, abs=1e-6)
    for name, grad in grads8.items():
        torch.testing.assert_close(grads2x4[name], grad, atol=1e-6, rtol=0, msg=name)
    torch.manual_seed(0)
    initial = GPT(GPTConfig(vocab_size=VOCAB, context_length=T, d_model=32, n_layers=2, n_heads=2, dropout=0.0))
    assert not torch.equal(params8["tok_emb.weight"].float(), initial.tok_emb.weight)  # a step was taken
    if dtype == torch.float64:
        for name, p in params8.items():
            torch.testing.assert_close(params2x4[name], p, atol=1e-6, rtol=0, msg=name)
