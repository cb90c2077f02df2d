"""Logistic regression and linear SVM: trained by scikit-learn, stored and applied as plain arrays.

Both score a document as ``s = x @ coef.T + intercept`` and differ only in the loss
they were trained with (log-loss vs hinge). After training we keep ``coef``,
``intercept`` and ``classes`` and nothing else, so a saved model is three arrays (no
pickle) and prediction needs only numpy:

- two classes: one score column; ``classes[1]`` if ``s > 0``, with p = sigmoid(s) for logistic regression;
- more classes: one column per class; argmax, with p = softmax(s) (multinomial logistic regression).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.special import expit, softmax

from lmforge.classic.naive_bayes import Matrix
from lmforge.errors import ConfigError

LinearKind = Literal["logreg", "svm"]


@dataclass
class LinearClassifier:
    """A fitted linear model; ``coef`` (K, F) with K = 1 for two classes, else K = number of classes."""

    kind: LinearKind
    coef: np.ndarray
    intercept: np.ndarray  # (K,)
    classes: np.ndarray  # (C,)

    @classmethod
    def fit(cls, kind: LinearKind, x: Matrix, y: np.ndarray | list, c: float = 1.0, seed: int = 0) -> LinearClassifier:
        """Train with scikit-learn: L2-regularized, ``c`` = inverse regularization strength."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.svm import LinearSVC

        if kind == "logreg":
            model = LogisticRegression(C=c, max_iter=2000, random_state=seed)
        elif kind == "svm":
            model = LinearSVC(C=c, random_state=seed)
        else:
            raise ConfigError(f"unknown linear model {kind!r}; expected 'logreg' or 'svm'")
        model.fit(x, y)
        return cls(kind, model.coef_.copy(), np.atleast_1d(model.intercept_).copy(), model.classes_.copy())

    def decision_function(self, x: Matrix) -> np.ndarray:
        """(N, K) scores s = x @ coef.T + intercept."""
        return np.asarray(x @ self.coef.T) + self.intercept

    def predict(self, x: Matrix) -> np.ndarray:
        s = self.decision_function(x)
        if s.shape[1] == 1:
            return self.classes[(s[:, 0] > 0).astype(int)]
        return self.classes[np.argmax(s, axis=1)]

    def predict_proba(self, x: Matrix) -> np.ndarray:
        """(N, C) class probabilities; only logistic regression has them."""
        if self.kind != "logreg":
            raise ConfigError("a linear SVM gives scores, not probabilities; use decision_function")
        s = self.decision_function(x)
        if s.shape[1] == 1:
            p1 = expit(s[:, 0])
            return np.stack([1.0 - p1, p1], axis=1)
        return softmax(s, axis=1)
