"""A text classifier = a vectorizer + a model, trained in one call and saved without pickle.

Saved as a folder:

- ``classifier.json``: the model kind, vectorizer settings, vocabulary (in column order),
  class names and training class counts (for the majority baseline);
- ``weights.safetensors``: the numbers: ``idf`` (TF-IDF only), and ``feature_log_prob`` +
  ``class_log_prior`` (naive Bayes) or ``coef`` + ``intercept`` (logistic regression / SVM).

Loading rebuilds the objects from these plain values; no code is ever unpickled, so
a downloaded model folder cannot run anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save

from lmforge.classic.linear import LinearClassifier
from lmforge.classic.naive_bayes import MultinomialNB
from lmforge.classic.vectorize import CountVectorizer, TfidfVectorizer
from lmforge.errors import ConfigError, DataError
from lmforge.io import atomic_write, read_json, write_json

ModelKind = Literal["nb", "logreg", "svm"]
FeatureKind = Literal["tfidf", "count"]
FORMAT = "lmforge-text-classifier"
CONFIG_FILE, WEIGHTS_FILE = "classifier.json", "weights.safetensors"


@dataclass
class TextClassifier:
    """``TextClassifier.train(texts, labels).predict(["free prize, text WIN now"])``."""

    vectorizer: CountVectorizer
    model: MultinomialNB | LinearClassifier
    kind: ModelKind
    class_counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def train(
        cls,
        texts: list[str],
        labels: list[str],
        kind: ModelKind = "nb",
        features: FeatureKind = "tfidf",
        ngram_range: tuple[int, int] = (1, 1),
        min_df: int | float = 1,
        c: float = 1.0,
        alpha: float = 1.0,
        seed: int = 0,
    ) -> TextClassifier:
        """Fit the vectorizer on ``texts`` and the model on the resulting matrix.

        ``c``: inverse L2 strength for logreg/svm; ``alpha``: naive Bayes smoothing.
        """
        classes, counts = np.unique(np.asarray(labels), return_counts=True)
        if len(classes) < 2:
            raise DataError(f"need at least two different labels to train a classifier, found {list(classes)}")
        if features not in ("tfidf", "count"):
            raise ConfigError(f"unknown features {features!r}; expected 'tfidf' or 'count'")
        make = TfidfVectorizer if features == "tfidf" else CountVectorizer
        vectorizer = make(ngram_range=ngram_range, min_df=min_df)
        x = vectorizer.fit_transform(texts)
        if kind == "nb":
            model: MultinomialNB | LinearClassifier = MultinomialNB(alpha=alpha).fit(x, labels)
        elif kind in ("logreg", "svm"):
            model = LinearClassifier.fit(kind, x, labels, c=c, seed=seed)
        else:
            raise ConfigError(f"unknown model {kind!r}; expected 'nb', 'logreg' or 'svm'")
        return cls(vectorizer, model, kind, {str(k): int(n) for k, n in zip(classes, counts, strict=True)})

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in (self.model.classes_ if isinstance(self.model, MultinomialNB) else self.model.classes)]

    def predict(self, texts: list[str]) -> np.ndarray:
        return self.model.predict(self.vectorizer.transform(texts))

    def save(self, out_dir: str | os.PathLike[str]) -> Path:
        """Write ``classifier.json`` + ``weights.safetensors`` into ``out_dir``; returns the folder."""
        out = Path(out_dir)
        tensors: dict[str, np.ndarray] = {}
        if isinstance(self.vectorizer, TfidfVectorizer):
            tensors["idf"] = self.vectorizer.idf_
        if isinstance(self.model, MultinomialNB):
            tensors["feature_log_prob"] = self.model.feature_log_prob_
            tensors["class_log_prior"] = self.model.class_log_prior_
        else:
            tensors["coef"] = self.model.coef
            tensors["intercept"] = self.model.intercept
        with atomic_write(out / WEIGHTS_FILE, "wb") as f:
            f.write(save({k: np.ascontiguousarray(v, dtype=np.float64) for k, v in tensors.items()}))
        write_json(
            out / CONFIG_FILE,
            {
                "format": FORMAT,
                "version": 1,
                "model": self.kind,
                "features": "tfidf" if isinstance(self.vectorizer, TfidfVectorizer) else "count",
                "vectorizer": self.vectorizer.config(),
                "vocabulary": self.vectorizer.get_feature_names_out(),
                "classes": self.classes,
                "class_counts": self.class_counts,
            },
        )
        return out

    @classmethod
    def load(cls, model_dir: str | os.PathLike[str]) -> TextClassifier:
        """Rebuild a classifier saved by :meth:`save`, checking every piece is present and consistent."""
        folder = Path(model_dir)
        config_path = folder / CONFIG_FILE
        if not config_path.is_file():
            raise ConfigError(f"{folder} is not a saved text classifier: {CONFIG_FILE} not found")
        cfg = read_json(config_path, "classifier config")
        if not isinstance(cfg, dict) or cfg.get("format") != FORMAT:
            raise ConfigError(f"{config_path}: not an lmforge text classifier (expected \"format\": \"{FORMAT}\")")
        missing = [k for k in ("model", "features", "vectorizer", "vocabulary", "classes") if k not in cfg]
        if missing:
            raise ConfigError(f"{config_path}: missing field(s) {', '.join(missing)}")
        try:
            w = load_file(str(folder / WEIGHTS_FILE))
        except (FileNotFoundError, SafetensorError) as e:
            raise ConfigError(f"{folder / WEIGHTS_FILE}: cannot read weights ({e})") from None

        def need(name: str) -> np.ndarray:
            if name not in w:
                raise ConfigError(f"{folder / WEIGHTS_FILE}: tensor {name!r} missing for a {cfg['model']} model")
            return w[name]

        settings = dict(cfg["vectorizer"])
        settings["ngram_range"] = tuple(settings["ngram_range"])
        vectorizer = TfidfVectorizer(**settings) if cfg["features"] == "tfidf" else CountVectorizer(**settings)
        vectorizer.vocabulary_ = {term: i for i, term in enumerate(cfg["vocabulary"])}
        if isinstance(vectorizer, TfidfVectorizer):
            vectorizer.idf_ = need("idf")
        classes = np.asarray(cfg["classes"])
        if cfg["model"] == "nb":
            model: MultinomialNB | LinearClassifier = MultinomialNB()
            model.classes_ = classes
            model.feature_log_prob_ = need("feature_log_prob")
            model.class_log_prior_ = need("class_log_prior")
            width = model.feature_log_prob_.shape[1]
        elif cfg["model"] in ("logreg", "svm"):
            model = LinearClassifier(cfg["model"], need("coef"), need("intercept"), classes)
            width = model.coef.shape[1]
        else:
            raise ConfigError(f"{config_path}: unknown model {cfg['model']!r}")
        if width != len(vectorizer.vocabulary_):
            raise ConfigError(
                f"{folder}: weights have {width} features but the vocabulary has {len(vectorizer.vocabulary_)}"
            )
        return cls(vectorizer, model, cfg["model"], dict(cfg.get("class_counts", {})))
