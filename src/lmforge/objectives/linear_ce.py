"""Output projection + cross-entropy in one pass over row chunks, without the full logits tensor.

A language model's last step turns N = B*T hidden vectors (N, C) into logits (N, V) and scores them
with cross-entropy. With V in the tens of thousands the logits are the largest tensor of the whole
training step (8 x 256 tokens x 8192 words = 64 MiB in fp32; x 49k words for SmolLM2), and the plain
path walks it five times: the matmul writes it, log-softmax reads it and writes its own copy, the
backward writes the gradient, and two matmuls read that.

The gradient of the mean cross-entropy with respect to one row of logits z is known in closed form:

    loss_i = logsumexp(z_i) - z_i[y_i]          dloss/dz_i = (softmax(z_i) - onehot(y_i)) / n

(n = number of scored rows). So :func:`linear_cross_entropy` works through the rows a chunk at a time:
logits of the chunk, their softmax (in place), the loss from log p(target), the gradient (softmax minus
one-hot, in place again), and from it the chunk's share of dL/dhidden = g W and dL/dW = g^T hidden. Only
one chunk of logits ever exists, in one buffer that every chunk reuses, and the forward pass has already
done the backward pass's work; ``backward`` just scales the stored gradients by the incoming one. Same
loss and gradients as ``F.cross_entropy(F.linear(hidden, weight), targets)`` (a test checks both), except
that a batch with every target ignored gives 0, not NaN.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100
CHUNK_ROWS = 512  # 512 x 8192 fp32 logits = 16 MiB; taller chunks, faster matmuls (5 % over 256 rows at V 8192)


def linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                         ignore_index: int = IGNORE_INDEX, chunk_rows: int = CHUNK_ROWS) -> torch.Tensor:
    """Mean cross-entropy of ``hidden @ weight.T`` against ``targets``; hidden (..., C), weight (V, C),
    targets (...). Rows whose target is ``ignore_index`` are not scored."""
    return _LinearCrossEntropy.apply(hidden.reshape(-1, hidden.shape[-1]), weight, targets.reshape(-1),
                                     ignore_index, chunk_rows, torch.is_grad_enabled())


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, ignore_index: int,
                chunk_rows: int, grad_enabled: bool) -> torch.Tensor:
        dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") and hidden.device.type == "cpu" \
            else hidden.dtype  # fmt: skip
        h, w = hidden.to(dtype), weight.to(dtype)  # under autocast the matmuls run in the autocast dtype
        scored = targets != ignore_index
        n = int(scored.sum())
        # Not under no_grad (evaluation), where a parameter still says it requires grad; and a frozen head
        # (LoRA fine-tuning) needs no dL/dW.
        need_h, need_w = (grad_enabled and needed for needed in ctx.needs_input_grad[:2])
        need_grad = need_h or need_w
        loss = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_h = torch.empty_like(h) if need_h else None
        grad_w = None  # dL/dW, summed over the chunks in fp32
        # One (R, V) buffer reused by every chunk for its logits and then, in place, its softmax: a fresh
        # tensor per chunk would be handed back to the OS and faulted in again page by page under glibc's
        # default allocator (~20 % of this loop).
        buf = torch.empty(min(chunk_rows, h.shape[0]), w.shape[0], dtype=torch.float32, device=h.device)
        for start in range(0, h.shape[0], chunk_rows):
            rows = slice(start, start + chunk_rows)
            part_h = h[rows]
            logits = buf[: len(part_h)]  # (R, V)
            if dtype == torch.float32:
                torch.mm(part_h, w.T, out=logits)
            else:
                logits.copy_(part_h @ w.T)
            y, keep = targets[rows], scored[rows]
            safe_y = torch.where(keep, y, 0)[:, None]  # (R, 1), any valid index for ignored rows
            target_logits = logits.gather(1, safe_y)[:, 0]
            # In place (the kernel reads each row before it writes it; the parity tests would notice otherwise),
            # and one pass fewer than log_softmax + exp.
            probs = torch.softmax(logits, dim=-1, out=logits)
            log_p = _log_target_prob(probs, safe_y, target_logits, part_h, w)
            loss -= (log_p * keep).sum()
            if not need_grad:
                continue
            grad = probs.scatter_add_(1, safe_y, -keep[:, None].to(probs.dtype))  # softmax - one-hot, in place
            if not bool(keep.all()):
                grad.masked_fill_(~keep[:, None], 0.0)  # ignored rows get no gradient
            grad = grad.to(dtype)
            if need_h:
                torch.mm(grad, w, out=grad_h[rows])  # (R, V) @ (V, C), written in place
            if need_w:
                if grad_w is None:
                    grad_w = (grad.T @ part_h).float()  # (V, R) @ (R, C)
                elif dtype == torch.float32:
                    grad_w.addmm_(grad.T, part_h)  # accumulated in place
                else:
                    grad_w += (grad.T @ part_h).float()
        ctx.save_for_backward(grad_h, grad_w)
        ctx.dtypes, ctx.n = (hidden.dtype, weight.dtype), max(n, 1)
        return loss / ctx.n

    @staticmethod
    def backward(ctx, grad_loss: torch.Tensor):
        grad_h, grad_w = ctx.saved_tensors
        hidden_dtype, weight_dtype = ctx.dtypes
        scale = grad_loss / ctx.n  # the mean's 1/n, applied once here instead of to every chunk of logits
        grad_h = None if grad_h is None else (grad_h * scale).to(hidden_dtype)
        grad_w = None if grad_w is None else (grad_w * scale).to(weight_dtype)
        return grad_h, grad_w, None, None, None, None


TINY_PROB = 1e-30  # far above fp32's smallest normal number (1.2e-38), so log() of anything larger is exact


def _log_target_prob(probs: torch.Tensor, targets: torch.Tensor, target_logits: torch.Tensor,
                     hidden: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """log p(target) per row. ``log(softmax)`` is as exact as ``log_softmax`` while p is a normal float;
    rows whose target probability underflowed (a loss above ~69 nats) recompute their logits from
    ``hidden`` and ``weight`` and take ``logit - logsumexp`` instead."""
    p = probs.gather(1, targets)[:, 0]
    tiny = p < TINY_PROB
    log_p = p.log()
    if bool(tiny.any()):
        log_p[tiny] = target_logits[tiny] - torch.logsumexp((hidden[tiny] @ weight.T).float(), dim=-1)
    return log_p


def plain_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                        ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """The textbook path the fused one replaces (full logits, then ``F.cross_entropy``): for tests and benchmarks."""
    logits = F.linear(hidden, weight)
    return F.cross_entropy(logits.flatten(0, -2).float(), targets.flatten(), ignore_index=ignore_index)
