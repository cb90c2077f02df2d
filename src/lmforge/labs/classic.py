"""Phase 2, classic NLP: bag-of-words spam filters (TF-IDF or counts, Naive Bayes or logistic regression)."""

from __future__ import annotations

import numpy as np

from lmforge.classic.classifier import TextClassifier
from lmforge.classic.data import read_labeled, stratified_split
from lmforge.classic.metrics import classification_report, majority_class
from lmforge.labs._common import SMS_SPAM, bar_chart, data_path
from lmforge.labs.registry import LabContext, LabResult, Reference, lab

_SETUPS = {"counts + NB": ("nb", "count"), "tfidf + NB": ("nb", "tfidf"), "tfidf + LR": ("logreg", "tfidf")}


def _sklearn_logreg(train_x: list[str], train_y: np.ndarray, test_x: list[str]) -> np.ndarray:
    """The reference: scikit-learn's TfidfVectorizer + LogisticRegression with the same C=1 (same split)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer()
    model = LogisticRegression(C=1.0, max_iter=1000).fit(vec.fit_transform(train_x), train_y)
    return model.predict(vec.transform(test_x))


@lab(id="classic-spam", phase="classic", title="TF-IDF vs counts, Naive Bayes vs logistic regression on SMS spam",
     teaches=("lmforge.classic.vectorize", "lmforge.classic.naive_bayes", "lmforge.classic.linear",
              "lmforge.classic.metrics"),
     docs="docs/labs.md#classic-spam", minutes=2)
def classic_lab(ctx: LabContext) -> LabResult:
    """Three bag-of-words classifiers on the SMS Spam Collection (80/20 stratified split): accuracy and
    spam F1 beside the majority-class baseline, and scikit-learn's TF-IDF + logistic regression on the
    same split as the reference."""
    data = read_labeled(data_path(SMS_SPAM), text_col="1", label_col="0", delimiter="\t", header=False)
    texts, labels = data.texts, np.asarray(data.labels)
    if ctx.smoke:
        texts, labels = texts[:600], labels[:600]
    train_idx, test_idx = stratified_split(labels, 0.2, seed=ctx.seed)
    train_x, test_x = [texts[i] for i in train_idx], [texts[i] for i in test_idx]
    train_y, test_y = labels[train_idx], labels[test_idx]
    metrics: dict[str, float] = {
        "majority_accuracy": float(np.mean(test_y == majority_class(train_y))), "test_examples": len(test_y)}
    rows = []
    for name, (kind, features) in _SETUPS.items():
        clf = TextClassifier.train(train_x, list(train_y), kind=kind, features=features, seed=ctx.seed)
        report = classification_report(test_y, clf.predict(test_x))
        key = name.replace(" + ", "_").replace(" ", "_").lower()
        metrics |= {f"{key}_accuracy": report.accuracy, f"{key}_spam_f1": report.per_class["spam"].f1}
        rows.append(f"{name} {100 * report.accuracy:.2f} %")
    sk = classification_report(test_y, _sklearn_logreg(train_x, train_y, test_x))
    metrics["sklearn_tfidf_lr_accuracy"] = sk.accuracy
    names = list(_SETUPS)
    plot = bar_chart(ctx.out_dir / "accuracy.png", ["majority", *names, "sklearn LR"],
                     [metrics["majority_accuracy"], *(metrics[f"{n.replace(' + ', '_').lower()}_accuracy"]
                                                      for n in names), sk.accuracy],
                     "test accuracy", "SMS spam, 20 % held out")
    return LabResult(
        headline=f"SMS spam accuracy: {', '.join(rows)} (majority class {100 * metrics['majority_accuracy']:.2f} %)",
        metrics=metrics,
        reference=Reference(f"scikit-learn TF-IDF + LogisticRegression(C=1): {100 * sk.accuracy:.2f} % on the same "
                            "split", "scikit-learn, measured in this run"),
        artifacts=[plot],
        notes="13 % of messages are spam, so accuracy is read against the majority baseline; spam F1 is in "
              "result.json.",
    )
