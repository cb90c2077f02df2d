"""RNN sentence classifier: masking, learning, save/load, GloVe initialisation, real data."""

from pathlib import Path

import numpy as np
import pytest
import torch

from lmforge.tasks.rnn_classify import (
    RNNClassifier,
    RNNClassifierConfig,
    TrainedClassifier,
    WordVocab,
    glove_init,
    pad_batch,
    train_rnn_classifier,
)

UCI = Path(__file__).parents[1] / "data" / "sentiment" / "uci_sentiment_labelled"
GOOD, BAD = ["great", "lovely", "excellent", "fine"], ["awful", "terrible", "poor", "bad"]
FILLER = ["the", "food", "was", "really", "and", "service", "at", "this", "place", "i", "think"]


def toy_sentiment(n, seed):
    """Filler words plus one sentiment word at a random place: the label is that word's polarity."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        words = list(rng.choice(FILLER, size=rng.integers(3, 9)))
        positive = bool(rng.random() < 0.5)
        words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(GOOD if positive else BAD)))
        texts.append(" ".join(words))
        labels.append("pos" if positive else "neg")
    return texts, labels


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_padding_does_not_change_a_prediction(cell):
    model = RNNClassifier(RNNClassifierConfig(vocab_size=20, n_classes=3, cell=cell)).eval()
    alone = model(pad_batch([[5, 6, 7]]))
    batched = model(pad_batch([[5, 6, 7], [1, 2, 3, 4, 5, 6, 7, 8, 9]]))
    torch.testing.assert_close(batched[:1], alone, atol=1e-6, rtol=0)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_learns_a_toy_task_and_round_trips(cell, tmp_path):
    texts, labels = toy_sentiment(400, seed=0)
    clf = train_rnn_classifier(texts, labels, tmp_path, cell=cell, epochs=10, lr=1e-2, d_embed=16, d_hidden=32)
    test_texts, test_labels = toy_sentiment(200, seed=1)
    assert clf.accuracy(test_texts, test_labels) > 0.9
    loaded = TrainedClassifier.load(tmp_path)
    assert loaded.predict(test_texts) == clf.predict(test_texts)
    assert loaded.model.config.cell == cell


def test_glove_init_copies_known_words_and_zeroes_padding():
    from lmforge.embeddings.vectors import WordVectors

    vectors = WordVectors(["good", "bad", "movie"], np.arange(12, dtype=np.float32).reshape(3, 4))
    vocab = WordVocab(["bad", "good", "zzz"])
    model = RNNClassifier(RNNClassifierConfig(vocab_size=len(vocab), n_classes=2, d_embed=4))
    assert glove_init(model, vocab, vectors) == 2
    table = model.emb.weight
    torch.testing.assert_close(table[vocab.index["good"]], vectors.vector("good"))
    torch.testing.assert_close(table[vocab.index["bad"]], vectors.vector("bad"))
    assert not table[0].any()


def test_vocab_maps_unknown_words_and_empty_text():
    vocab = WordVocab.build(["The film was great.", "Great acting!"], min_count=2)
    assert vocab.words == ["<pad>", "<unk>", "great"]
    assert vocab.encode("GREAT, unseen", max_len=8) == [2, 1, 1]
    assert vocab.encode("", max_len=8) == [1]


def test_beats_chance_clearly_on_real_sentiment_data(tmp_path):
    from lmforge.tasks.data import read_text_labels, split_examples

    examples = [e for f in sorted(UCI.glob("*_labelled.txt")) for e in read_text_labels(f, "0", "1", header=False)]
    train, test = split_examples(examples, 0.2, seed=0)
    clf = train_rnn_classifier([e.text for e in train], [e.label for e in train], tmp_path, epochs=3)
    assert clf.accuracy([e.text for e in test], [e.label for e in test]) > 0.68
