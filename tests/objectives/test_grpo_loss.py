"""GRPO: our loss equals trl's ``GRPOTrainer`` loss on a fixed batch of completions (trl 1.16), and the
group-normalized advantages are trl's formula on the same rewards."""

from __future__ import annotations

import pytest
import torch

from lmforge.interop.hf_gpt2 import export_hf_gpt2
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.objectives.grpo import GRPOObjective, RolloutBatch, group_advantages, grpo_loss, token_logps

GPT2_TOKENIZER = "tests/data/gpt2_tokenizer"
P, C = 3, 5  # prompt and completion lengths of the fixed batch (4 completions: 2 prompts x a group of 2)


def test_group_advantages_are_trls_formula():
    nanstd = pytest.importorskip("trl.trainer.utils").nanstd
    rewards = torch.tensor([1.0, 0.0, 0.5, 0.5, 2.0, -1.0, 0.0, 3.0])
    grouped = rewards.view(-1, 4)
    expected = (rewards - grouped.mean(1).repeat_interleave(4)) / (nanstd(grouped, dim=1).repeat_interleave(4) + 1e-4)
    assert torch.allclose(group_advantages(rewards, 4), expected)
    assert torch.allclose(group_advantages(rewards, 4, "batch"),
                          (rewards - grouped.mean(1).repeat_interleave(4)) / (nanstd(rewards) + 1e-4))
    same = group_advantages(torch.ones(4), 2)
    assert torch.equal(same, torch.zeros(4))  # a group that all scored alike teaches nothing


def test_ratio_one_and_no_kl_is_the_plain_policy_gradient():
    logps = torch.log(torch.tensor([[0.5, 0.25], [0.1, 0.2]]))
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    loss, stats = grpo_loss(logps, logps, None, torch.tensor([1.0, -1.0]), mask, loss_type="bnpo")
    assert loss.item() == pytest.approx(-(1 + 1 - 1) / 3)  # -mean(A * ratio) over the three tokens, ratio 1
    assert stats.kl == 0.0 and stats.clip_fraction == 0.0


def _trl_trainer(tmp_path, hf_model, tok, **settings):
    trl = pytest.importorskip("trl")
    datasets = pytest.importorskip("datasets")
    args = trl.GRPOConfig(output_dir=str(tmp_path / "trl"), report_to=[], use_cpu=True, bf16=False,
                          num_generations=2, per_device_train_batch_size=4, max_completion_length=C, **settings)
    dataset = datasets.Dataset.from_list([{"prompt": "a"}] * 4)
    trainer = trl.GRPOTrainer(model=hf_model, reward_funcs=lambda completions, **kw: [0.0] * len(completions),
                              args=args, train_dataset=dataset, processing_class=tok)
    trainer.current_gradient_accumulation_steps = 1  # set by the training loop, which this test does not run
    return trainer


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo"])
def test_equal_to_trl_grpo_trainer_loss(tmp_path, loss_type):
    """Same tiny GPT on both sides (exported to HF GPT-2); the completions are right-padded to different lengths,
    the sampling policy's log-probs differ from the current ones (so ratios leave 1 and some are clipped, with
    asymmetric bounds) and the reference's differ too (beta > 0). Settings named identically on both sides:
    beta, epsilon / epsilon_high, loss_type, temperature, max_completion_length, and trl's default
    use_bias_correction_kl=True (our kl_ratio_correction)."""
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    policy = GPT(GPTConfig(vocab_size=512, context_length=16, d_model=16, n_layers=1, n_heads=2)).eval()
    export_hf_gpt2(policy, tmp_path / "hf")
    tok = transformers.GPT2TokenizerFast(vocab_file=f"{GPT2_TOKENIZER}/encoder.json",
                                         merges_file=f"{GPT2_TOKENIZER}/vocab.bpe")
    tok.pad_token = tok.eos_token
    settings = {"beta": 0.05, "epsilon": 0.1, "epsilon_high": 0.3, "loss_type": loss_type, "temperature": 0.7}
    trainer = _trl_trainer(tmp_path, transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "hf"), tok, **settings)

    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 512, (4, P + C), generator=g)
    completion_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0]])
    mask = torch.zeros(4, P + C - 1)
    mask[:, P - 1:] = completion_mask  # position t predicts ids[:, t + 1]: the completion starts at P - 1
    with torch.no_grad():
        current = token_logps(policy, ids, temperature=0.7)
    old = current + 0.3 * torch.randn(current.shape, generator=g)  # the policy that sampled, some steps ago
    ref = current + 0.5 * torch.randn(current.shape, generator=g)
    advantages = group_advantages(torch.tensor([1.0, 0.0, 0.2, 0.9]), 2)

    trainer.model.train()
    theirs = trainer._compute_loss(trainer.model, {
        "prompt_ids": ids[:, :P], "prompt_mask": torch.ones(4, P, dtype=torch.long),
        "completion_ids": ids[:, P:], "completion_mask": completion_mask, "advantages": advantages,
        "old_per_token_logps": old[:, P - 1:], "ref_per_token_logps": ref[:, P - 1:]})
    objective = GRPOObjective(beta=0.05, eps_low=0.1, eps_high=0.3, loss_type=loss_type, max_completion_length=C,
                              temperature=0.7)
    policy.train()  # dropout is 0: training mode only makes the objective log its statistics
    ours = objective(policy, RolloutBatch(ids, mask, old, ref, advantages, torch.zeros(4)))
    assert ours.item() == pytest.approx(theirs.item(), abs=1e-5)
    assert objective.history[-1].clip_fraction > 0  # the clip did bind somewhere
    assert objective.history[-1].clip_fraction == pytest.approx(trainer._metrics["train"]["clip_ratio/region_mean"][-1])
    assert objective.history[-1].kl == pytest.approx(trainer._metrics["train"]["kl"][-1], abs=1e-5)
