"""The Porter stemmer, written from M.F. Porter's 1980 paper "An algorithm for suffix stripping".

A stemmer cuts suffixes by rule so that related words share one key
(``connect``, ``connected``, ``connection`` -> ``connect``); the key need not be a
word (``happy`` -> ``happi``). The algorithm views a word as ``[C](VC)^m[V]``: runs of
consonants C and vowels V, where ``y`` is a vowel after a consonant. The *measure* ``m``
counts the VC pairs and roughly the syllables; most rules only fire when the part
left after cutting (the stem) is long enough (``m > 0`` or ``m > 1``), which keeps
short words like ``sing`` or ``rate`` intact.

Two variants, tested word for word against Porter's published vocabulary:

- ``"martin"`` (default): Porter's own reference implementation (the ``output.txt`` on
  his site), which departs from the paper in three ways: step 2 maps ``-bli`` -> ``-ble``
  (instead of ``-abli`` -> ``-able``), adds ``-logi`` -> ``-log``, and words of one or two
  letters are returned unchanged.
- ``"original"``: the algorithm exactly as printed in 1980.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

PorterMode = Literal["martin", "original"]

_VOWELS = frozenset("aeiou")


def _is_consonant(word: str, i: int) -> bool:
    """Letter ``i`` is a consonant: not a, e, i, o, u, and not a ``y`` that follows a consonant."""
    if word[i] in _VOWELS:
        return False
    if word[i] == "y":
        return i == 0 or not _is_consonant(word, i - 1)
    return True


def measure(stem: str) -> int:
    """``m`` in ``[C](VC)^m[V]``: how many times a vowel is directly followed by a consonant.

    ``tree`` -> 0, ``trouble`` -> 1, ``troubles`` -> 2.
    """
    kinds = [_is_consonant(stem, i) for i in range(len(stem))]
    return sum(1 for a, b in zip(kinds, kinds[1:], strict=False) if not a and b)


def _has_vowel(stem: str) -> bool:
    """``*v*``: the stem contains a vowel."""
    return any(not _is_consonant(stem, i) for i in range(len(stem)))


def _ends_double_consonant(word: str) -> bool:
    """``*d``: the word ends with a doubled consonant (``-tt``, ``-ss``)."""
    return len(word) >= 2 and word[-1] == word[-2] and _is_consonant(word, len(word) - 1)


def _ends_cvc(word: str) -> bool:
    """``*o``: ends consonant-vowel-consonant, the last not w, x or y (``hop``, but not ``snow``)."""
    n = len(word)
    return (
        n >= 3
        and _is_consonant(word, n - 3)
        and not _is_consonant(word, n - 2)
        and _is_consonant(word, n - 1)
        and word[-1] not in "wxy"
    )


Rules = list[tuple[str, str]]


def _longest_first(rules: dict[str, str]) -> Rules:
    """Suffix rules ordered so the first that matches is the longest (the paper's tie rule)."""
    return sorted(rules.items(), key=lambda rule: -len(rule[0]))


def _apply(word: str, rules: Rules, condition: Callable[[str], bool]) -> str:
    """Replace the longest matching suffix if ``condition(stem)`` holds.

    Only the longest match is considered: if its condition fails, the word stays as it
    is and shorter suffixes are *not* tried (``-ational`` failing does not fall back to
    ``-tional``).
    """
    for suffix, replacement in rules:
        if word.endswith(suffix):
            stem = word[: len(word) - len(suffix)]
            return stem + replacement if condition(stem) else word
    return word


_STEP1A = _longest_first({"sses": "ss", "ies": "i", "ss": "ss", "s": ""})
_STEP2_COMMON = {
    "ational": "ate", "tional": "tion", "enci": "ence", "anci": "ance", "izer": "ize", "alli": "al",
    "entli": "ent", "eli": "e", "ousli": "ous", "ization": "ize", "ation": "ate", "ator": "ate", "alism": "al",
    "iveness": "ive", "fulness": "ful", "ousness": "ous", "aliti": "al", "iviti": "ive", "biliti": "ble",
}  # fmt: skip
_STEP2 = {
    "original": _longest_first({**_STEP2_COMMON, "abli": "able"}),
    "martin": _longest_first({**_STEP2_COMMON, "bli": "ble", "logi": "log"}),
}
_STEP3 = _longest_first({"icate": "ic", "ative": "", "alize": "al", "iciti": "ic", "ical": "ic", "ful": "", "ness": ""})
_STEP4 = _longest_first(dict.fromkeys((
    "al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent", "ion", "ou", "ism", "ate", "iti",
    "ous", "ive", "ize",
), ""))  # fmt: skip


def _step1b(word: str) -> str:
    """``-eed`` -> ``-ee`` (m > 0); drop ``-ed``/``-ing`` after a vowel, then repair the stem.

    The repair restores what the suffix took: ``conflat(ed)`` -> ``conflate``,
    ``hopp(ing)`` -> ``hop``, ``fil(ing)`` -> ``file``.
    """
    if word.endswith("eed"):
        return word[:-1] if measure(word[:-3]) > 0 else word
    for suffix in ("ed", "ing"):
        stem = word[: -len(suffix)]
        if word.endswith(suffix) and _has_vowel(stem):
            if stem.endswith(("at", "bl", "iz")):
                return stem + "e"
            if _ends_double_consonant(stem) and stem[-1] not in "lsz":
                return stem[:-1]
            if measure(stem) == 1 and _ends_cvc(stem):
                return stem + "e"
            return stem
    return word


def _step1c(word: str) -> str:
    """``-y`` -> ``-i`` when the stem has a vowel: ``happy`` -> ``happi``, but ``sky`` stays."""
    return word[:-1] + "i" if word.endswith("y") and _has_vowel(word[:-1]) else word


def _step4(word: str) -> str:
    """Drop a final suffix when m > 1; ``-ion`` only after ``s`` or ``t`` (``adoption`` -> ``adopt``)."""
    for suffix, _ in _STEP4:
        if word.endswith(suffix):
            stem = word[: -len(suffix)]
            ok = measure(stem) > 1 and (suffix != "ion" or stem.endswith(("s", "t")))
            return stem if ok else word
    return word


def _step5(word: str) -> str:
    """Tidy up: drop a final ``-e`` (m > 1, or m = 1 unless the stem ends cvc); ``-ll`` -> ``-l`` when m > 1."""
    if word.endswith("e"):
        stem = word[:-1]
        m = measure(stem)
        if m > 1 or (m == 1 and not _ends_cvc(stem)):
            word = stem
    if word.endswith("ll") and measure(word) > 1:
        word = word[:-1]
    return word


class PorterStemmer:
    """``PorterStemmer().stem("generalizations") == "gener"``; input is lower-cased first."""

    def __init__(self, mode: PorterMode = "martin"):
        if mode not in _STEP2:
            raise ValueError(f"unknown Porter mode {mode!r}; expected one of {sorted(_STEP2)}")
        self.mode = mode

    def stem(self, word: str) -> str:
        """The stem of one word."""
        word = word.lower()
        if self.mode == "martin" and len(word) <= 2:
            return word
        word = _apply(word, _STEP1A, lambda stem: True)
        word = _step1b(word)
        word = _step1c(word)
        word = _apply(word, _STEP2[self.mode], lambda stem: measure(stem) > 0)
        word = _apply(word, _STEP3, lambda stem: measure(stem) > 0)
        word = _step4(word)
        return _step5(word)
