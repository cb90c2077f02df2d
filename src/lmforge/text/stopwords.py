"""English stop-word lists: very frequent function words that carry little topic information.

Removing them shrinks bag-of-words vocabularies and makes counts of content words
stand out; it can also hurt (``not`` flips sentiment, ``to be or not to be`` is all
stop words), so it is always a choice, never a default in lmforge.

``STOP_WORDS`` is lmforge's own list: pronouns, determiners, prepositions, conjunctions,
auxiliary and modal verbs, and the clitics our tokenizer splits off (``'s``, ``'re``),
all lower-case. :func:`stop_words` also returns scikit-learn's or spaCy's list by name,
so results can be compared with code that uses them.
"""

from __future__ import annotations

from collections.abc import Iterable

from lmforge.errors import ConfigError

STOP_WORDS: frozenset[str] = frozenset((
    # pronouns and possessives
    "i", "me", "my", "mine", "myself", "we", "us", "our", "ours", "ourselves", "you", "your", "yours", "yourself",
    "yourselves", "he", "him", "his", "himself", "she", "her", "hers", "herself", "it", "its", "itself", "they",
    "them", "their", "theirs", "themselves", "one", "who", "whom", "whose", "which", "what", "this", "that",
    "these", "those",
    # determiners and quantifiers
    "a", "an", "the", "some", "any", "each", "every", "all", "both", "either", "neither", "other", "another", "such",
    "own", "same", "few", "more", "most", "many", "much", "several",
    # prepositions
    "of", "in", "on", "at", "by", "for", "with", "about", "against", "between", "into", "through", "during",
    "before", "after", "above", "below", "to", "from", "up", "down", "out", "off", "over", "under", "across",
    "along", "among", "around", "behind", "beside", "beyond", "toward", "towards", "upon", "within", "without",
    "via", "onto",
    # conjunctions and subordinators
    "and", "but", "or", "nor", "so", "yet", "if", "then", "than", "because", "as", "until", "while", "although",
    "though", "whether", "unless", "since", "when", "where", "why", "how", "whereas",
    # auxiliary and modal verbs
    "am", "is", "are", "was", "were", "be", "been", "being", "have", "has", "had", "having", "do", "does", "did",
    "doing", "will", "would", "shall", "should", "can", "could", "may", "might", "must", "ought",
    # adverbs and particles
    "not", "no", "only", "very", "too", "also", "just", "again", "further", "once", "here", "there", "now", "ever",
    "even", "still", "already", "quite", "rather",
    # clitics as our tokenizer splits them
    "'s", "'re", "'m", "'ve", "'d", "'ll", "n't",
))  # fmt: skip


def stop_words(name: str = "lmforge") -> frozenset[str]:
    """A stop-word list by name: ``"lmforge"`` (ours), ``"sklearn"`` or ``"spacy"`` (needs that package)."""
    if name == "lmforge":
        return STOP_WORDS
    if name == "sklearn":
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        return frozenset(ENGLISH_STOP_WORDS)
    if name == "spacy":
        try:
            from spacy.lang.en.stop_words import STOP_WORDS as SPACY_STOP_WORDS
        except ImportError:
            raise ConfigError("stop-word list 'spacy' needs spaCy: pip install spacy") from None
        return frozenset(SPACY_STOP_WORDS)
    raise ConfigError(f"unknown stop-word list {name!r}; expected 'lmforge', 'sklearn' or 'spacy'")


def remove_stop_words(tokens: Iterable[str], words: frozenset[str] = STOP_WORDS) -> list[str]:
    """Drop tokens whose lower-case form is in ``words``: ``["The", "cat"]`` -> ``["cat"]``."""
    return [t for t in tokens if t.lower() not in words]
