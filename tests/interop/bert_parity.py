"""What the BERT-family parity tests (BERT, ALBERT, ELECTRA) share: one padded two-segment batch, weight
noise, and a strict ``from_pretrained``. Imported by the test files of this folder (pytest puts it on the path)."""

from collections.abc import Callable

import torch


def encoder_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(ids, token types, attention mask) of shape (3, 17) over a 120-word vocabulary; row 1 is padded."""
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(0, 120, (3, 17), generator=g)
    types = torch.cat([torch.zeros(3, 9), torch.ones(3, 8)], dim=1).long()
    mask = torch.ones(3, 17, dtype=torch.long)
    mask[1, 12:] = 0
    return ids, types, mask


def perturb(model: torch.nn.Module, scale: float, select: Callable[[str], bool] = lambda name: True):
    """Noise on the selected tensors, so norms and biases are no longer 1 / 0 and a swapped or dropped tensor
    shows in the logits (large enough noise also brings pre-activations to O(1), where GELU variants differ)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if select(name):
                p.add_(torch.randn_like(p) * scale)
    return model


def load_strict(hf_cls, path):
    """``from_pretrained`` that fails on any missing or unexpected tensor (HF would init or drop it silently)."""
    model, info = hf_cls.from_pretrained(path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    return model.eval()
