"""Multinomial naive Bayes, the classic text classifier: counting plus Bayes' rule.

Model: a document of class c is a bag of words drawn independently from a
class-specific word distribution theta_c. Then

    log p(c | x) = log p(c) + sum_t x_t log theta_{c,t} - log Z(x)

which is linear in the counts ``x`` (hence fast and a good baseline). Training is
counting, with additive (Laplace/Lidstone) smoothing so an unseen word does not zero
out a class:

    theta_{c,t} = (N_{c,t} + alpha) / (N_c + alpha * F)      N_{c,t}: count of term t in class c
    p(c)        = n_c / n                                   (or uniform with fit_prior=False)

Matches scikit-learn's ``MultinomialNB`` (same predictions and log-probabilities).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.special import logsumexp

from lmforge.errors import ConfigError, DataError

Matrix = np.ndarray | sp.spmatrix | sp.sparray


class MultinomialNB:
    """``MultinomialNB(alpha=1.0).fit(X, y)``; X: (n_docs, n_terms) non-negative counts or TF-IDF weights."""

    def __init__(self, alpha: float = 1.0, fit_prior: bool = True):
        if alpha < 0:
            raise ConfigError(f"naive Bayes smoothing alpha must be >= 0, got {alpha}")
        self.alpha = alpha
        self.fit_prior = fit_prior
        self.classes_ = np.zeros(0)
        self.feature_log_prob_ = np.zeros((0, 0))  # (C, F) log theta
        self.class_log_prior_ = np.zeros(0)  # (C,) log p(c)

    def fit(self, x: Matrix, y: np.ndarray | list) -> MultinomialNB:
        y = np.asarray(y)
        if x.shape[0] != len(y):
            raise DataError(f"got {x.shape[0]} documents but {len(y)} labels")
        if (x.data if sp.issparse(x) else np.asarray(x)).min(initial=0) < 0:
            raise DataError("multinomial naive Bayes needs non-negative features (counts or TF-IDF)")
        self.classes_, class_of_doc = np.unique(y, return_inverse=True)
        one_hot = np.zeros((len(y), len(self.classes_)))  # (N, C)
        one_hot[np.arange(len(y)), class_of_doc] = 1.0
        feature_count = np.asarray(x.T @ one_hot).T  # (C, F): N_{c,t}
        smoothed = feature_count + self.alpha
        self.feature_log_prob_ = np.log(smoothed) - np.log(smoothed.sum(axis=1, keepdims=True))
        class_count = one_hot.sum(axis=0)
        self.class_log_prior_ = (
            np.log(class_count) - np.log(class_count.sum())
            if self.fit_prior
            else np.full(len(self.classes_), -np.log(len(self.classes_)))
        )
        return self

    def joint_log_likelihood(self, x: Matrix) -> np.ndarray:
        """(N, C): log p(c) + sum_t x_t log theta_{c,t}, i.e. log p(c, x) up to a per-document constant."""
        return np.asarray(x @ self.feature_log_prob_.T) + self.class_log_prior_

    def predict_log_proba(self, x: Matrix) -> np.ndarray:
        """(N, C) log p(c | x): the joint normalized with log-sum-exp (no overflow for long documents)."""
        jll = self.joint_log_likelihood(x)
        return jll - logsumexp(jll, axis=1, keepdims=True)

    def predict(self, x: Matrix) -> np.ndarray:
        return self.classes_[np.argmax(self.joint_log_likelihood(x), axis=1)]
