"""Word embeddings from scratch: Word2Vec (skip-gram, CBOW), GloVe, FastText, plus evaluation.

Train with :func:`train_embeddings` (settings in :class:`EmbeddingRun`), open any
vectors with :func:`load_vectors`, query them through :class:`WordVectors`
(``most_similar``, ``analogy``) and score them with :func:`evaluate_all`.
"""

from lmforge.embeddings.evaluate import (
    EvaluationReport,
    evaluate_all,
    evaluate_analogies,
    evaluate_similarity,
    spearman,
)
from lmforge.embeddings.fasttext import FastText, FastTextVectors, char_ngrams, fasttext_hash
from lmforge.embeddings.glove import GloVe, cooccurrence
from lmforge.embeddings.loading import load_vectors
from lmforge.embeddings.plot import pca_2d, plot_words
from lmforge.embeddings.pretrained import load_glove_6b_50d
from lmforge.embeddings.training import EmbeddingRun, TrainedEmbeddings, train_embeddings
from lmforge.embeddings.vectors import WordVectors, load_word2vec
from lmforge.embeddings.word2vec import Word2Vec

__all__ = [
    "EmbeddingRun",
    "EvaluationReport",
    "FastText",
    "FastTextVectors",
    "GloVe",
    "TrainedEmbeddings",
    "Word2Vec",
    "WordVectors",
    "char_ngrams",
    "cooccurrence",
    "evaluate_all",
    "evaluate_analogies",
    "evaluate_similarity",
    "fasttext_hash",
    "load_glove_6b_50d",
    "load_vectors",
    "load_word2vec",
    "pca_2d",
    "plot_words",
    "spearman",
    "train_embeddings",
]
