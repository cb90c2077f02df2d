"""Logit distillation: the loss is the written formula (checked against a float64 sum over the
vocabulary), zero KL when student = teacher, plain cross-entropy at alpha = 0, and its gradient pulls
the student's distribution toward the teacher's."""

import math

import pytest
import torch
import torch.nn.functional as F

from lmforge.errors import ConfigError
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.objectives.clm import causal_lm_loss
from lmforge.objectives.distill import distillation_loss, distillation_terms


def gpt(seed: int, d_model: int = 32) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=20, context_length=16, d_model=d_model, n_layers=1, n_heads=2))


def test_terms_match_the_formula_in_float64():
    torch.manual_seed(0)
    s, t, y = torch.randn(2, 5, 20), torch.randn(2, 5, 20) * 3, torch.randint(0, 20, (2, 5))
    T = 2.5
    kl, ce = distillation_terms(s, t, y, T)
    p_t = (t.double() / T).softmax(-1)
    want_kl = (p_t * (p_t.log() - (s.double() / T).log_softmax(-1))).sum(-1).mean() * T * T
    want_ce = -(s.double().log_softmax(-1).gather(-1, y[..., None])).mean()
    assert math.isclose(kl.item(), want_kl.item(), rel_tol=1e-5)
    assert math.isclose(ce.item(), want_ce.item(), rel_tol=1e-5)


def test_alpha_zero_is_cross_entropy_and_a_copy_has_no_kl():
    student, teacher = gpt(0), gpt(1)
    batch = (torch.randint(0, 20, (2, 8)), torch.randint(0, 20, (2, 8)))
    torch.testing.assert_close(distillation_loss(teacher, alpha=0.0)(student, batch), causal_lm_loss(student, batch))
    kl, _ = distillation_terms(student(batch[0]), student(batch[0]), batch[1], 2.0)
    assert abs(kl.item()) < 1e-6


def test_steps_on_the_loss_move_the_student_toward_the_teacher():
    student, teacher = gpt(0), gpt(1, d_model=64)
    x = torch.randint(0, 20, (4, 12))
    batch = (x, torch.randint(0, 20, (4, 12)))
    loss_fn = distillation_loss(teacher, temperature=2.0, alpha=1.0)
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-2)

    def gap() -> float:
        with torch.no_grad():
            return F.kl_div(student(x).log_softmax(-1), teacher(x).log_softmax(-1), log_target=True,
                            reduction="batchmean").item()

    before = gap()
    for _ in range(10):
        optimizer.zero_grad()
        loss_fn(student, batch).backward()
        optimizer.step()
    assert gap() < 0.7 * before
    assert all(p.grad is None for p in teacher.parameters())


def test_mismatched_vocabularies_and_bad_settings_are_refused():
    with pytest.raises(ConfigError, match="same vocabulary"):
        distillation_terms(torch.zeros(1, 2, 20), torch.zeros(1, 2, 30), torch.zeros(1, 2, dtype=torch.long), 2.0)
    with pytest.raises(ConfigError, match="temperature > 0"):
        distillation_loss(gpt(0), temperature=0.0)
