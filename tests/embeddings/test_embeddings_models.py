"""The three objectives, written out: word2vec's SGD update, FastText's subwords, GloVe's weighted least squares."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gensim.models.fasttext import compute_ngrams, ft_ngram_hashes

from lmforge.embeddings import FastText, GloVe, Word2Vec, char_ngrams
from lmforge.embeddings.fasttext import FastTextConfig, ngram_buckets
from lmforge.embeddings.glove import GloVeConfig
from lmforge.embeddings.word2vec import Word2VecConfig
from lmforge.errors import ConfigError


def test_one_sgd_step_is_word2vec_update():
    """With the summed loss, plain SGD applies exactly word2vec.c's update for a (center, context) pair:
    g_j = lr (label_j - σ(u_j · h)),  out_j += g_j h,  inp_center += Σ_j g_j u_j (old u)."""
    torch.manual_seed(0)
    model = Word2Vec(Word2VecConfig(vocab_size=10, dim=6))
    with torch.no_grad():
        model.out.weight.normal_()  # the C code starts out at 0; random makes every term non-trivial
    inp, out = model.inp.weight.detach().clone(), model.out.weight.detach().clone()
    center, target, negatives = torch.tensor([3]), torch.tensor([5]), torch.tensor([[1, 7, 8]])
    lr = 0.025
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    model(center, target, negatives).backward()
    optimizer.step()
    h, words, labels = inp[3], [5, 1, 7, 8], torch.tensor([1.0, 0.0, 0.0, 0.0])
    g = lr * (labels - torch.sigmoid(out[words] @ h))  # (1+k,)
    expected_out, expected_inp = out.clone(), inp.clone()
    expected_out[words] += g[:, None] * h
    expected_inp[3] += (g[:, None] * out[words]).sum(dim=0)
    torch.testing.assert_close(model.out.weight.detach(), expected_out)
    torch.testing.assert_close(model.inp.weight.detach(), expected_inp)


def test_cbow_hidden_is_mean_of_context_and_ignores_padding():
    model = Word2Vec(Word2VecConfig(vocab_size=10, dim=4, mode="cbow"))
    contexts = torch.tensor([[2, 4, -1, -1], [1, 2, 3, 4]])
    hidden = model.hidden(contexts)
    w = model.inp.weight.detach()
    torch.testing.assert_close(hidden[0], (w[2] + w[4]) / 2)
    torch.testing.assert_close(hidden[1], w[1:5].mean(dim=0))
    hidden[0].sum().backward()  # word2vec.c: each context word gets the full error, not 1/count of it
    grad = model.inp.weight.grad.to_dense()
    torch.testing.assert_close(grad[[2, 4]], torch.ones(2, 4))
    assert grad[[0, 1, 3]].abs().sum() == 0


def test_fasttext_ngrams_and_hash_buckets_match_gensim():
    for word in ["whale", "a", "café", "naïve", "straße", "日本語", "don't"]:
        assert sorted(char_ngrams(word, 3, 6)) == sorted(compute_ngrams(word, 3, 6))
        assert sorted(ngram_buckets(word, 3, 6, 2_000_000)) == sorted(ft_ngram_hashes(word, 3, 6, 2_000_000))


def test_fasttext_word_vector_is_mean_of_own_row_and_ngram_rows():
    words = ["whale", "whaling", "ship"]
    model = FastText(FastTextConfig(vocab_size=3, dim=8, buckets=1000), words)
    table = model.inp.weight.detach()
    grams = [3 + b for b in ngram_buckets("whaling", 3, 6, 1000)]
    torch.testing.assert_close(model.word_vectors()[1], table[[1, *grams]].mean(dim=0))
    unseen = [3 + b for b in ngram_buckets("whales", 3, 6, 1000)]
    torch.testing.assert_close(model.oov_vector("whales"), table[unseen].mean(dim=0))
    with pytest.raises(ConfigError, match="2 words"):
        FastText(FastTextConfig(vocab_size=3, dim=8), words[:2])


def test_glove_loss_is_weighted_least_squares():
    torch.manual_seed(0)
    model = GloVe(GloVeConfig(vocab_size=5, dim=3, x_max=10.0, alpha=0.75))
    rows, cols, counts = torch.tensor([0, 1, 4]), torch.tensor([1, 3, 4]), torch.tensor([2.0, 30.0, 0.5])
    w, wc = model.w.weight.detach(), model.w_ctx.weight.detach()
    b, bc = model.b.weight.detach()[:, 0], model.b_ctx.weight.detach()[:, 0]
    expected = 0.0
    for i, j, x in zip(rows.tolist(), cols.tolist(), counts.tolist(), strict=True):
        f = min(1.0, (x / 10.0) ** 0.75)
        expected += 0.5 * f * (float(w[i] @ wc[j]) + float(b[i] + bc[j]) - np.log(x)) ** 2
    with torch.no_grad():
        assert model(rows, cols, counts).item() == pytest.approx(expected, rel=1e-5)
    torch.testing.assert_close(model.word_vectors(), w + wc)


def test_negative_sampling_loss_formula():
    model = Word2Vec(Word2VecConfig(vocab_size=6, dim=4))
    with torch.no_grad():
        model.out.weight.normal_()
    h, u = model.inp.weight.detach()[2], model.out.weight.detach()
    loss = model(torch.tensor([2]), torch.tensor([0]), torch.tensor([[4, 5]]))
    expected = -F.logsigmoid(u[0] @ h) - F.logsigmoid(-(u[4] @ h)) - F.logsigmoid(-(u[5] @ h))
    torch.testing.assert_close(loss, expected)
