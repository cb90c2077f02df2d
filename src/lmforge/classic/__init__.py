"""Classic NLP: bag-of-words / TF-IDF features, n-gram language models and linear text classifiers.

The pre-neural baselines every LLM is measured against, each checked against its
reference library: the vectorizers and naive Bayes against scikit-learn, the n-gram
models against NLTK's ``nltk.lm``.
"""

from lmforge.classic.classifier import TextClassifier
from lmforge.classic.data import LabeledTexts, check_known_labels, read_labeled, stratified_split
from lmforge.classic.linear import LinearClassifier
from lmforge.classic.metrics import Report, classification_report, majority_class
from lmforge.classic.naive_bayes import MultinomialNB
from lmforge.classic.ngram import MLE, AddK, KneserNey, NgramLM, pad, padded_ngrams
from lmforge.classic.vectorize import CountVectorizer, TfidfVectorizer

__all__ = [
    "MLE",
    "AddK",
    "CountVectorizer",
    "KneserNey",
    "LabeledTexts",
    "LinearClassifier",
    "MultinomialNB",
    "NgramLM",
    "Report",
    "TextClassifier",
    "TfidfVectorizer",
    "check_known_labels",
    "classification_report",
    "majority_class",
    "pad",
    "padded_ngrams",
    "read_labeled",
    "stratified_split",
]
