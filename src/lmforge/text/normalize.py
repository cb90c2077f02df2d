"""Unicode normalization, case folding and accent stripping.

Why it matters: the same visible word can be stored as different code points.
"café" may be one ``é`` (U+00E9) or ``e`` + a combining acute (U+0301); "ﬁ" is one
ligature code point; full-width "Ａ" looks like "A". Counting words, building a
vocabulary or matching stop words without normalizing first silently treats these
as different words.

- NFC composes characters (``e`` + U+0301 -> ``é``) without changing meaning: safe default.
- NFKC also folds *compatibility* variants (ligatures, full-width forms, superscripts:
  ``"x²"`` -> ``"x2"``): better for search and matching, lossy for display.
- ``str.casefold`` is lower-casing for comparison: it also maps ``"ß"`` -> ``"ss"``.
- Accent stripping decomposes (NFD), drops combining marks (Unicode category ``Mn``) and
  recomposes: ``"naïve café"`` -> ``"naive cafe"``. Lossy (``"résumé"`` == ``"resume"``).
"""

from __future__ import annotations

import unicodedata
from typing import Literal

NormalForm = Literal["NFC", "NFKC", "NFD", "NFKD"]


def strip_accents(text: str) -> str:
    """Remove combining marks: ``"Crème brûlée"`` -> ``"Creme brulee"``.

    Letters that are not "base + mark" (``"ø"``, ``"ł"``, ``"ß"``) are left alone:
    they have no decomposition, and guessing a replacement would be language-specific.
    """
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn"))


def normalize_text(
    text: str, form: NormalForm | None = "NFC", casefold: bool = False, accents: bool = True
) -> str:
    """Apply, in this order: Unicode normal ``form`` (None = leave as is), case folding, accent stripping.

    ``accents=False`` strips accents. Normalizing first makes the later steps see one
    spelling of each character, e.g. a pre-composed and a decomposed "é" fold the same way.
    """
    if form is not None:
        text = unicodedata.normalize(form, text)
    if casefold:
        text = text.casefold()
    if not accents:
        text = strip_accents(text)
    return text
