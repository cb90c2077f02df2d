"""The text and image CNNs trained with the one Trainer, against baselines measured in the same test (fp32)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rich.console import Console

from lmforge.classic.linear import LinearClassifier
from lmforge.errors import ConfigError
from lmforge.foundations.cnn import ImageCNN, ImageCNNConfig, TextCNN, TextCNNConfig
from lmforge.foundations.data import TensorBatches, labeled_sentences
from lmforge.foundations.training import accuracy, classification_loss, fit
from lmforge.seeding import seed_everything

QUIET = Console(stderr=True, quiet=True)


def test_image_cnn_beats_logistic_regression_on_digits(digit_split, tmp_path):
    d = digit_split
    logreg = LinearClassifier.fit("logreg", d.x_train.flatten(1).numpy(), d.y_train.numpy())
    baseline = float((logreg.predict(d.x_test.flatten(1).numpy()) == d.y_test.numpy()).mean())
    seed_everything(0)
    model = ImageCNN(ImageCNNConfig())
    fit(model, TensorBatches(d.x_train, d.y_train, batch_size=64), classification_loss, tmp_path, steps=300,
        console=QUIET)
    cnn = accuracy(model, d.x_test, d.y_test)
    assert cnn > baseline  # measured 0.972 vs 0.953 (359 held-out images)
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "loss.png").is_file()


def test_text_cnn_beats_the_majority_class(uci_sentiment, tmp_path):
    texts, labels = uci_sentiment
    split, words, classes = labeled_sentences(texts, labels, length=32, min_df=1, seed=0)
    majority = max(float((split.y_test == c).float().mean()) for c in range(len(classes)))
    seed_everything(0)
    model = TextCNN(TextCNNConfig(len(words), len(classes), d_embed=32, n_filters=32))
    fit(model, TensorBatches(split.x_train, split.y_train, batch_size=50), classification_loss, tmp_path,
        steps=200, lr=1e-2, console=QUIET)
    assert accuracy(model, split.x_test, split.y_test) > majority + 0.15  # measured 0.728 vs 0.502 (540 sentences)


def test_text_cnn_ignores_padding_and_word_order_matters_only_within_windows():
    seed_everything(0)
    model = TextCNN(TextCNNConfig(vocab_size=20, n_classes=2, widths=(2, 3), n_filters=4)).eval()
    ids = torch.tensor([[5, 6, 7, 8, 0, 0]])
    longer_padding = torch.tensor([[5, 6, 7, 8, 0, 0, 0, 0, 0]])
    torch.testing.assert_close(model(ids), model(longer_padding))
    swapped_sentences = torch.tensor([[7, 8, 9, 5, 6, 9, 0]])  # the same bigrams "5 6", "7 8" elsewhere
    assert not torch.allclose(model(ids), model(swapped_sentences))


def test_configs_are_checked():
    with pytest.raises(ConfigError, match="widths"):
        TextCNN(TextCNNConfig(vocab_size=10, n_classes=2, widths=()))
    with pytest.raises(ConfigError, match="even image_size"):
        ImageCNN(ImageCNNConfig(image_size=7))


def test_words_come_from_the_training_part_only():
    texts = ["good film", "bad film", "great film", "awful plot"]
    split, words, classes = labeled_sentences(texts, ["1", "0", "1", "0"], length=4, test_fraction=0.5, seed=0)
    assert classes == ["0", "1"]
    assert split.x_train.shape == (2, 4) and split.x_test.shape == (2, 4)
    assert (split.x_test == 1).any()  # a test-only word is unknown (id 1), not a fresh id
    assert np.all(split.x_train.numpy()[:, 2:] == 0)  # two-word sentences, right-padded
