"""The reward model's Bradley-Terry loss equals trl's ``RewardTrainer`` loss on the same model and batch (trl 1.16)."""

from __future__ import annotations

import pytest
import torch

from lmforge.interop.hf_gpt2 import export_hf_gpt2
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.objectives.reward import RewardBatch, RewardObjective, bradley_terry_loss
from lmforge.tasks.reward import reward_model

GPT2_TOKENIZER = "tests/data/gpt2_tokenizer"


def test_bradley_terry_limits():
    zero = torch.zeros(4)
    assert bradley_terry_loss(zero, zero).item() == pytest.approx(float(torch.log(torch.tensor(2.0))))
    assert bradley_terry_loss(torch.full((4,), 30.0), zero).item() < 1e-6
    assert bradley_terry_loss(torch.full((4,), 30.0), zero, margin=torch.full((4,), 30.0)).item() == pytest.approx(
        float(torch.log(torch.tensor(2.0))))  # the margin eats the whole gap
    assert bradley_terry_loss(torch.ones(4), torch.ones(4), center_coefficient=0.5).item() == pytest.approx(
        float(torch.log(torch.tensor(2.0))) + 0.5 * 4.0)


@pytest.mark.parametrize("center", [None, 0.01])
def test_equal_to_trl_reward_trainer_loss(tmp_path, center):
    """A tiny GPT exported to HF GPT-2 under GPT2ForSequenceClassification (its score head = our head; that head
    has no bias, ours starts at bias 0). Rows are right-padded to different lengths: HF finds each row's last
    non-pad token, lmforge reads the mask; both must pick the same position."""
    trl = pytest.importorskip("trl")
    datasets = pytest.importorskip("datasets")
    transformers = pytest.importorskip("transformers")
    tok = transformers.GPT2TokenizerFast(vocab_file=f"{GPT2_TOKENIZER}/encoder.json",
                                         merges_file=f"{GPT2_TOKENIZER}/vocab.bpe")
    tok.pad_token = tok.eos_token  # trl sets the model's pad_token_id from it; no real token below uses it
    pad_id = tok.pad_token_id
    torch.manual_seed(0)
    backbone = GPT(GPTConfig(vocab_size=512, context_length=16, d_model=16, n_layers=1, n_heads=2))
    export_hf_gpt2(backbone, tmp_path / "hf")
    ours = reward_model(backbone).eval()
    torch.nn.init.normal_(ours.head.weight, std=0.5)
    hf = transformers.GPT2ForSequenceClassification.from_pretrained(tmp_path / "hf", num_labels=1)
    with torch.no_grad():
        hf.score.weight.copy_(ours.head.weight)
    args = trl.RewardConfig(output_dir=str(tmp_path / "trl"), report_to=[], use_cpu=True, bf16=False,
                            center_rewards_coefficient=center)
    dataset = datasets.Dataset.from_list([{"prompt": "a", "chosen": " b", "rejected": " c"}] * 2)
    trainer = trl.RewardTrainer(model=hf, args=args, train_dataset=dataset, processing_class=tok)

    g = torch.Generator().manual_seed(3)
    lengths = [8, 5, 3, 7, 6, 8]  # rows 0-2 chosen, rows 3-5 rejected
    ids = torch.randint(0, 512, (6, 8), generator=g)
    ids[ids == pad_id] = pad_id + 1
    mask = torch.tensor([[1] * n + [0] * (8 - n) for n in lengths])
    ids = ids.masked_fill(mask == 0, pad_id)
    trainer.model.train()
    theirs = trainer.compute_loss(trainer.model, {"input_ids": ids, "attention_mask": mask})

    objective = RewardObjective(center)
    ours.train()  # dropout is 0 in both models; training mode logs the batch's accuracy as trl does
    loss = objective(ours, RewardBatch(ids, mask))
    assert loss.item() == pytest.approx(theirs.item(), abs=1e-5)
    assert objective.history[-1].accuracy == pytest.approx(trainer._metrics["train"]["accuracy"][-1])
    assert objective.history[-1].margin == pytest.approx(trainer._metrics["train"]["margin"][-1], abs=1e-5)
