"""Unicode normalization, case folding, accent stripping, stop words."""

import unicodedata

from lmforge.text import STOP_WORDS, normalize_text, remove_stop_words, stop_words, strip_accents


def test_nfc_composes_and_nfkc_folds_compatibility_forms():
    decomposed = "cafe\u0301"
    assert normalize_text(decomposed) == "caf\u00e9" and len(normalize_text(decomposed)) == 4
    assert normalize_text("\ufb01ne x\u00b2 \uff21", "NFC") == "\ufb01ne x\u00b2 \uff21"
    assert normalize_text("\ufb01ne x\u00b2 \uff21", "NFKC") == "fine x2 A"
    assert normalize_text(decomposed, None) == decomposed


def test_casefold_and_accents():
    assert normalize_text("Straße ÉCOLE", casefold=True) == "strasse école"
    assert normalize_text("Straße ÉCOLE", casefold=True, accents=False) == "strasse ecole"
    assert strip_accents("Crème brûlée, naïve, Ångström") == "Creme brulee, naive, Angstrom"
    assert strip_accents("ø ł") == "ø ł"  # no decomposition: left alone
    # pre-composed and decomposed input end up identical
    assert strip_accents("e\u0301") == strip_accents("\u00e9") == "e"
    assert unicodedata.is_normalized("NFC", strip_accents("A\u030a"))


def test_stop_words():
    assert {"the", "and", "n't", "'s"} <= STOP_WORDS and "movie" not in STOP_WORDS
    assert remove_stop_words(["The", "movie", "was", "n't", "great"]) == ["movie", "great"]
    assert "the" in stop_words("sklearn") and "the" in stop_words("spacy")
    assert all(w == w.lower() for w in STOP_WORDS)


def test_unknown_stop_word_list_is_a_clear_error():
    import pytest

    from lmforge.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown stop-word list 'nltk'"):
        stop_words("nltk")
