"""Naive Bayes vs scikit-learn, linear models rebuilt from arrays, metrics, and save/load without pickle."""

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support
from sklearn.naive_bayes import MultinomialNB as SkMultinomialNB
from sklearn.svm import LinearSVC

from lmforge.classic import (
    CountVectorizer,
    LinearClassifier,
    MultinomialNB,
    TextClassifier,
    TfidfVectorizer,
    classification_report,
    majority_class,
    stratified_split,
)
from lmforge.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def features(sms_spam):
    texts, labels = sms_spam
    train_idx, test_idx = stratified_split(labels, 0.2, seed=0)
    vec = CountVectorizer(ngram_range=(1, 2), min_df=2)
    x_train = vec.fit_transform([texts[i] for i in train_idx])
    x_test = vec.transform([texts[i] for i in test_idx])
    labels = np.asarray(labels)
    return x_train, labels[train_idx], x_test, labels[test_idx]


@pytest.mark.parametrize("alpha,fit_prior", [(1.0, True), (0.1, True), (0.5, False)])
def test_naive_bayes_matches_sklearn(features, alpha, fit_prior):
    x_train, y_train, x_test, _ = features
    ours = MultinomialNB(alpha=alpha, fit_prior=fit_prior).fit(x_train, y_train)
    ref = SkMultinomialNB(alpha=alpha, fit_prior=fit_prior).fit(x_train, y_train)
    np.testing.assert_array_equal(ours.classes_, ref.classes_)
    np.testing.assert_allclose(ours.feature_log_prob_, ref.feature_log_prob_, rtol=1e-12)
    np.testing.assert_allclose(ours.class_log_prior_, ref.class_log_prior_, rtol=1e-12)
    np.testing.assert_array_equal(ours.predict(x_test), ref.predict(x_test))
    np.testing.assert_allclose(ours.predict_log_proba(x_test), ref.predict_log_proba(x_test), rtol=1e-9, atol=1e-9)


def test_naive_bayes_three_classes_and_tfidf_input(uci_sentiment):
    texts, labels = uci_sentiment
    y = np.array([f"{i % 3}{lab}" for i, lab in enumerate(labels)])  # 6 arbitrary classes
    x = TfidfVectorizer().fit_transform(texts)
    ours, ref = MultinomialNB().fit(x, y), SkMultinomialNB().fit(x, y)
    np.testing.assert_array_equal(ours.predict(x), ref.predict(x))
    np.testing.assert_allclose(ours.predict_log_proba(x), ref.predict_log_proba(x), rtol=1e-9, atol=1e-9)
    with pytest.raises(DataError, match="non-negative"):
        MultinomialNB().fit(-x, y)


@pytest.mark.parametrize("kind", ["logreg", "svm"])
def test_linear_models_rebuilt_from_arrays_predict_like_sklearn(features, kind):
    x_train, y_train, x_test, _ = features
    ours = LinearClassifier.fit(kind, x_train, y_train, c=2.0)
    ref = (LogisticRegression(C=2.0, max_iter=2000, random_state=0) if kind == "logreg"
           else LinearSVC(C=2.0, random_state=0)).fit(x_train, y_train)  # fmt: skip
    np.testing.assert_array_equal(ours.predict(x_test), ref.predict(x_test))
    np.testing.assert_allclose(ours.decision_function(x_test)[:, 0], ref.decision_function(x_test), rtol=1e-9)
    if kind == "logreg":
        np.testing.assert_allclose(ours.predict_proba(x_test), ref.predict_proba(x_test), rtol=1e-9)
    else:
        with pytest.raises(ConfigError, match="not probabilities"):
            ours.predict_proba(x_test)


def test_multiclass_logreg_probabilities(uci_sentiment):
    texts, labels = uci_sentiment
    y = np.array([f"{i % 3}" for i in range(len(labels))])
    x = TfidfVectorizer().fit_transform(texts)
    ours = LinearClassifier.fit("logreg", x, y)
    ref = LogisticRegression(max_iter=2000, random_state=0).fit(x, y)
    np.testing.assert_array_equal(ours.predict(x), ref.predict(x))
    np.testing.assert_allclose(ours.predict_proba(x), ref.predict_proba(x), rtol=1e-9, atol=1e-12)


def test_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    y_true = rng.choice(["a", "b", "c"], 200)
    y_pred = np.where(rng.random(200) < 0.7, y_true, rng.choice(["a", "b", "c"], 200))
    report = classification_report(y_true, y_pred)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=["a", "b", "c"], zero_division=0)
    assert report.accuracy == pytest.approx(accuracy_score(y_true, y_pred))
    assert report.macro_f1 == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    for i, c in enumerate("abc"):
        got = report.per_class[c]
        assert (got.precision, got.recall, got.f1, got.support) == pytest.approx((p[i], r[i], f[i], s[i]))
    baseline = classification_report(y_true, ["a"] * 200, ["a", "b", "c"])
    assert baseline.per_class["b"].precision == 0.0 and "| a |" in baseline.table()
    assert majority_class(["x", "y", "y", "x", "z"]) == "x"  # tie -> smallest


def test_stratified_split_is_seeded_and_keeps_class_shares():
    labels = ["spam"] * 100 + ["ham"] * 900
    train, test = stratified_split(labels, 0.2, seed=0)
    again, _ = stratified_split(labels, 0.2, seed=0)
    other, _ = stratified_split(labels, 0.2, seed=1)
    assert len(test) == 200 and sum(labels[i] == "spam" for i in test) == 20
    assert np.array_equal(train, again) and not np.array_equal(train, other)
    assert set(train) | set(test) == set(range(1000)) and not set(train) & set(test)
    with pytest.raises(ConfigError):
        stratified_split(labels, 1.5)


@pytest.mark.parametrize("kind,features_kind", [("nb", "tfidf"), ("logreg", "count"), ("svm", "tfidf")])
def test_save_load_roundtrip_without_pickle(tmp_path, sms_spam, kind, features_kind):
    texts, labels = sms_spam
    clf = TextClassifier.train(texts[:1500], labels[:1500], kind, features_kind, ngram_range=(1, 2), min_df=2)
    folder = clf.save(tmp_path / "model")
    assert sorted(p.name for p in folder.iterdir()) == ["classifier.json", "weights.safetensors"]
    cfg = json.loads((folder / "classifier.json").read_text())
    assert cfg["model"] == kind and cfg["classes"] == ["ham", "spam"] and len(cfg["vocabulary"]) > 1000
    loaded = TextClassifier.load(folder)
    new = texts[1500:2500]
    np.testing.assert_array_equal(loaded.predict(new), clf.predict(new))
    assert loaded.class_counts == clf.class_counts


def test_load_errors(tmp_path, sms_spam):
    with pytest.raises(ConfigError, match="not a saved text classifier"):
        TextClassifier.load(tmp_path)
    texts, labels = sms_spam
    folder = TextClassifier.train(texts[:300], labels[:300]).save(tmp_path / "m")
    (folder / "weights.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ConfigError, match="cannot read weights"):
        TextClassifier.load(folder)
    (folder / "classifier.json").write_text('{"format": "something else"}')
    with pytest.raises(ConfigError, match="not an lmforge text classifier"):
        TextClassifier.load(folder)
    with pytest.raises(DataError, match="at least two different labels"):
        TextClassifier.train(["a b", "c d"], ["x", "x"])
