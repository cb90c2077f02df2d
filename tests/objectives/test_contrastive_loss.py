"""In-batch negatives loss = sentence-transformers' MultipleNegativesRankingLoss; batches never repeat a passage."""

import pytest
import torch

from lmforge.objectives.contrastive import in_batch_negatives_loss
from lmforge.tasks.retrieval import DistinctPassageBatches


class _Given(torch.nn.Module):
    """Stands in for a SentenceTransformer: returns the embeddings it is handed."""

    def forward(self, features):
        return {"sentence_embedding": features["embedding"]}


def test_equals_multiple_negatives_ranking_loss():
    losses = pytest.importorskip("sentence_transformers.losses")
    torch.manual_seed(0)
    queries, passages = torch.randn(8, 16, requires_grad=True), torch.randn(8, 16)
    reference = losses.MultipleNegativesRankingLoss(_Given(), scale=20.0)(
        [{"embedding": queries}, {"embedding": passages}], None)
    ours = in_batch_negatives_loss(queries, passages, scale=20.0)
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-5)
    (grad,) = torch.autograd.grad(ours, queries)
    (expected,) = torch.autograd.grad(reference, queries)
    torch.testing.assert_close(grad, expected, atol=1e-5, rtol=1e-5)


def test_batches_hold_distinct_passages_and_resume_exactly():
    pairs = [([1, i], [2, i % 5], f"p{i % 5}") for i in range(40)]  # 8 questions for each of 5 passages
    batches = DistinctPassageBatches(pairs, batch_size=4, seed=3)
    seen = []
    for _ in range(12):
        batch = batches.next_batch()
        rows = batch.passage_ids[:, 1].tolist()
        assert len(set(rows)) == len(rows) == 4
        seen.append(batch.query_ids[:, 1].tolist())
    resumed = DistinctPassageBatches(pairs, batch_size=4, seed=3)
    state = DistinctPassageBatches(pairs, batch_size=4, seed=3)
    for _ in range(5):
        state.next_batch()
    resumed.load_state_dict(state.state_dict())
    assert [resumed.next_batch().query_ids[:, 1].tolist() for _ in range(7)] == seen[5:]
