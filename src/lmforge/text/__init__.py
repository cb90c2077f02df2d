"""Text basics: normalization, word and sentence tokenization, stemming, lemmatization, stop words.

Everything here is plain Python (``regex`` only) and checked against the classic
references: Porter's published stemmer output, spaCy's tokens and lemmas.
"""

from lmforge.text.lemmatize import RuleLemmatizer, SpacyLemmatizer
from lmforge.text.normalize import normalize_text, strip_accents
from lmforge.text.porter import PorterStemmer
from lmforge.text.stopwords import STOP_WORDS, remove_stop_words, stop_words
from lmforge.text.tokenize import Token, split_sentences, tokenize, word_tokenize

__all__ = [
    "STOP_WORDS",
    "PorterStemmer",
    "RuleLemmatizer",
    "SpacyLemmatizer",
    "Token",
    "normalize_text",
    "remove_stop_words",
    "split_sentences",
    "stop_words",
    "strip_accents",
    "tokenize",
    "word_tokenize",
]
