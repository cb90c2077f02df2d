"""Our DPO loss equals trl's ``DPOTrainer`` loss on the same models and batch (trl 1.16)."""

from __future__ import annotations

import pytest
import torch

from lmforge.interop.hf_gpt2 import export_hf_gpt2
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.objectives.dpo import DPOBatch, DPOObjective, answer_logps, dpo_loss, sequence_logps

GPT2_TOKENIZER = "tests/data/gpt2_tokenizer"


def test_sequence_logps_sums_masked_token_logprobs():
    logits = torch.log(torch.tensor([[[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]]]))  # (1, 2, 3)
    targets = torch.tensor([[0, 1]])
    assert sequence_logps(logits, targets, torch.tensor([[1.0, 1.0]])).item() == pytest.approx(
        float(torch.log(torch.tensor(0.5 * 0.8))), abs=1e-6)
    assert sequence_logps(logits, targets, torch.tensor([[0.0, 1.0]])).item() == pytest.approx(
        float(torch.log(torch.tensor(0.8))), abs=1e-6)


def test_loss_formula_limits():
    zero = torch.zeros(3)
    loss, rc, rr = dpo_loss(zero, zero, zero, zero, beta=0.1)
    assert loss.item() == pytest.approx(float(torch.log(torch.tensor(2.0))))  # no preference yet: -log(1/2)
    loss, rc, rr = dpo_loss(torch.full((3,), 50.0), zero, zero, zero, beta=1.0)
    assert loss.item() < 1e-6 and (rc > rr).all()
    smoothed, _, _ = dpo_loss(torch.full((3,), 50.0), zero, zero, zero, beta=1.0, label_smoothing=0.1)
    assert smoothed.item() == pytest.approx(0.1 * 50.0, rel=1e-4)  # -eps * log sigmoid(-50) ~ eps * 50


def _tiny(seed: int) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=512, context_length=16, d_model=16, n_layers=1, n_heads=2)).eval()


def test_equal_to_trl_dpo_trainer_loss(tmp_path):
    """trl 1.16's "sigmoid" loss is plain DPO (its label smoothing now belongs to other loss types).

    The models are tiny GPTs exported to HF GPT-2, so both sides score the same logits; the batch has
    right padding and answers of different lengths. bf16=False: trl would otherwise run the reference model under bf16
    autocast on CPU. (The tokenizer is only needed to build the trainer.)"""
    trl = pytest.importorskip("trl")
    datasets = pytest.importorskip("datasets")
    transformers = pytest.importorskip("transformers")
    policy, reference = _tiny(0), _tiny(1)
    export_hf_gpt2(policy, tmp_path / "policy")
    export_hf_gpt2(reference, tmp_path / "ref")
    hf_policy = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "policy")
    hf_ref = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "ref")
    tok = transformers.GPT2TokenizerFast(vocab_file=f"{GPT2_TOKENIZER}/encoder.json",
                                         merges_file=f"{GPT2_TOKENIZER}/vocab.bpe")
    tok.pad_token = tok.eos_token
    args = trl.DPOConfig(output_dir=str(tmp_path / "trl"), beta=0.3, report_to=[], use_cpu=True,
                         precompute_ref_log_probs=False, loss_type=["sigmoid"], bf16=False)
    dataset = datasets.Dataset.from_list([{"prompt": "a", "chosen": " b", "rejected": " c"}] * 2)
    trainer = trl.DPOTrainer(model=hf_policy, ref_model=hf_ref, args=args, train_dataset=dataset,
                             processing_class=tok)

    g = torch.Generator().manual_seed(5)
    ids = torch.randint(0, 512, (4, 8), generator=g)  # rows 0-1 chosen, rows 2-3 rejected
    completion = torch.tensor([[0, 0, 0, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1, 1, 1],
                               [0, 0, 0, 1, 1, 0, 0, 0], [0, 0, 1, 1, 0, 0, 0, 0]])
    attention = torch.tensor([[1] * 6 + [0] * 2, [1] * 8, [1] * 5 + [0] * 3, [1] * 4 + [0] * 4])
    trainer.model.train()  # metrics go to the "train" log (dropout is 0 in these models)
    theirs = trainer.compute_loss(trainer.model, {"input_ids": ids, "attention_mask": attention,
                                                  "completion_mask": completion})

    mask = completion[:, 1:].float()  # (2B, T-1): answer tokens among the predicted ones
    with torch.no_grad():
        ref_logps = answer_logps(reference, ids, mask)
    objective = DPOObjective(beta=0.3)
    ours = objective(policy, DPOBatch(ids, mask, ref_logps))
    assert ours.item() == pytest.approx(theirs.item(), abs=1e-5)
    with torch.no_grad():
        chosen_logps = answer_logps(policy, ids, mask)[:2].mean().item()
    assert chosen_logps == pytest.approx(trainer._metrics["train"]["logps/chosen"][-1], rel=1e-5)
    accuracy = trainer._metrics["train"]["rewards/accuracies"][-1]
    policy.train()
    objective(policy, DPOBatch(ids, mask, ref_logps))
    assert objective.history[-1].accuracy == pytest.approx(accuracy)
    assert objective.history[-1].margin == pytest.approx(trainer._metrics["train"]["rewards/margins"][-1], abs=1e-5)
    assert objective.history[-1].chosen == pytest.approx(trainer._metrics["train"]["rewards/chosen"][-1], abs=1e-5)
