"""A regex word tokenizer and a rule-based sentence splitter for English.

Word tokenization is one regular expression tried left to right, most specific
pattern first (URL before e-mail before abbreviation before plain word before a
single punctuation character), then one post-processing step that splits clitics
off words. The conventions follow spaCy / the Penn Treebank, so results can be
compared with spaCy token for token (``benchmarks/text_agreement.py``):

- contractions split before the clitic: ``"don't"`` -> ``do n't``, ``"I'm"`` -> ``I 'm``,
  ``"can't"`` -> ``ca n't``, possessives ``"John's"`` -> ``John 's``; the same for the
  apostrophe-less spellings common in informal text (``dont``, ``im``, ``gonna``);
- URLs, e-mail addresses and numbers with internal punctuation (``3.50``, ``1,000``,
  ``10:30``) stay whole; trailing sentence punctuation is not part of a URL;
- known abbreviations and initialisms keep their period (``Dr.``, ``e.g.``, ``U.S.``);
- hyphens between words are tokens of their own (``slow - moving``), runs of dots or
  dashes are one token (``...``, ``--``), every other symbol is one token.

Tokens carry character offsets into the original text, so nothing is lost: the
sentence splitter cuts the text at token boundaries and returns exact substrings.
"""

from __future__ import annotations

from typing import NamedTuple

import regex

#: Abbreviations that are never the end of a sentence (a title is followed by a name).
_NON_FINAL_ABBREVIATIONS = frozenset((
    "mr", "mrs", "ms", "messrs", "dr", "prof", "sr", "jr", "st", "mt", "rev", "gen", "col", "capt", "lt", "sgt",
    "gov", "sen", "rep", "hon", "e.g", "i.e", "cf", "vs", "approx", "fig",
))  # fmt: skip
#: Abbreviations that often end a sentence: split after them only if the next word is capitalized.
_FINAL_ABBREVIATIONS = frozenset((
    "etc", "inc", "ltd", "co", "corp", "dept", "est", "vol",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
))  # fmt: skip

#: Apostrophe-less contractions (informal text) and their pieces, as spaCy and the PTB split them.
_NT_BASES = ("do", "does", "did", "is", "are", "was", "were", "have", "has", "had", "could", "would", "should",
             "ca", "wo", "ai")  # fmt: skip
_UNMARKED_CONTRACTIONS = {
    "".join(parts): parts
    for parts in (
        *((base, "nt") for base in _NT_BASES),
        ("i", "m"), ("you", "re"), ("they", "re"), ("i", "ve"), ("you", "ve"), ("we", "ve"), ("they", "ve"),
        ("you", "ll"), ("they", "ll"), ("can", "not"), ("gon", "na"), ("got", "ta"), ("wan", "na"),
    )
}  # fmt: skip
_CLITICS = ("n't", "'s", "'m", "'d", "'re", "'ve", "'ll")

_EMOTICONS = (r":-?\)", r":-?\(", r":-?[DPp]", r";-?\)", r":-?/", r":'\(", r":-?\|", r":[oO]", r"=\)", r"<3",
              r"[xX]D", r"\^_\^")  # fmt: skip
_ABBREVIATION_WORDS = sorted(
    (a for a in _NON_FINAL_ABBREVIATIONS | _FINAL_ABBREVIATIONS if "." not in a), key=len, reverse=True
)

_TOKEN = regex.compile(
    "|".join(
        (
            r"(?:https?://|www\.)[^\s<>\"]*[^\s<>\".,;:!?')\]]",  # URL, minus trailing punctuation
            r"[\w.+-]+@\w[\w-]*(?:\.\w[\w-]*)+",  # e-mail
            r"\w[\w-]*(?:\.\w[\w-]*)*\.(?:com|org|net|edu|gov|info|biz|io|uk)\b",  # bare domain name
            r"(?<!\S)(?:" + "|".join(_EMOTICONS) + r")(?!\S)",  # emoticon standing alone
            r"(?<![\w.])(?:\p{L}\.){2,}",  # initialism: U.S., e.g., a.m.
            r"(?i:(?<![\w.])(?:" + "|".join(_ABBREVIATION_WORDS) + r")\.)",  # Dr., etc.
            r"(?<![\w.])(?!I\.)\p{Lu}\.(?=\s+\p{Lu})",  # an initial before a name: J. Smith
            r"\w+(?:(?:['’]|(?<=\d)[.,:/](?=\d))\w+)*",  # word or number: don't, 3.50, 1,000, 10:30
            r"\.{2,}|-{2,}|\S",  # ellipsis, long dash, any other single symbol
        )
    )
)


class Token(NamedTuple):
    """A token and where it is: ``text == source[start:end]``."""

    text: str
    start: int
    end: int


def _split_clitics(text: str, start: int) -> list[Token]:
    """``don't`` -> ``do`` + ``n't`` (and friends), keeping offsets; other words come back whole."""
    pieces = _UNMARKED_CONTRACTIONS.get(text.lower())
    if pieces is not None:
        cut = start + len(pieces[0])
        return [Token(text[: len(pieces[0])], start, cut), Token(text[len(pieces[0]) :], cut, start + len(text))]
    tail: list[Token] = []
    while True:
        plain = text.lower().replace("’", "'")
        clitic = next((c for c in _CLITICS if plain.endswith(c) and len(plain) > len(c)), None)
        if clitic is None:
            return [Token(text, start, start + len(text)), *tail]
        cut = len(text) - len(clitic)
        tail.insert(0, Token(text[cut:], start + cut, start + len(text)))
        text = text[:cut]


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into word and punctuation tokens with character offsets."""
    tokens: list[Token] = []
    for match in _TOKEN.finditer(text):
        if "'" in match.group() or "’" in match.group() or match.group().lower() in _UNMARKED_CONTRACTIONS:
            tokens.extend(_split_clitics(match.group(), match.start()))
        else:
            tokens.append(Token(match.group(), match.start(), match.end()))
    return tokens


def word_tokenize(text: str) -> list[str]:
    """The token strings of :func:`tokenize`: ``"Don't stop!"`` -> ``["Do", "n't", "stop", "!"]``."""
    return [t.text for t in tokenize(text)]


_TERMINAL = regex.compile(r"[.!?…]+")
_QUOTES = frozenset("\"'”’»")
_CLOSING = _QUOTES | frozenset(")]}")
_PARAGRAPH_BREAK = regex.compile(r"\n[^\S\n]*\n")


def _is_terminal(token: str) -> bool:
    """``.``, ``!?``, ``...`` or a word with a final period (``etc.``, ``U.S.``), but not a number like ``3.``."""
    return bool(_TERMINAL.fullmatch(token)) or (token.endswith(".") and not token[:-1].isdigit())


def _ends_sentence(terminal: str, quoted: bool, following: str | None) -> bool:
    """Does a sentence end after ``terminal`` (``quoted``: a closing quote follows it), given the next token?"""
    if following is None:
        return True
    word = terminal.lower()
    if word.rstrip(".") in _NON_FINAL_ABBREVIATIONS or (len(word) == 2 and word[0].isalpha()):
        return False  # Dr. Smith / e.g. this / J. Smith
    starts_like_sentence = following[0].isupper() or following[0].isdigit() or following[0] in "\"'“‘(["
    if word[-1] in "!?":
        return starts_like_sentence or not quoted  # '"Yes?" she said' goes on; 'how r u? im fine' ends
    return starts_like_sentence


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences (exact substrings, outer whitespace trimmed).

    A sentence ends after ``!`` or ``?``; after ``.``, an ellipsis or an abbreviation
    like ``etc.``/``U.S.`` only when the next word starts like a sentence (capital letter,
    digit, opening quote); never after a title (``Dr.``, ``Mrs.``), an initial or
    ``e.g.``/``i.e.``. Closing quotes and brackets right after the punctuation stay with
    the sentence. A blank line always ends a sentence; text without final punctuation
    still yields its last sentence.
    """
    tokens = tokenize(text)
    sentences: list[str] = []
    first = 0  # index of the first token of the current sentence
    i = 0
    while i < len(tokens):
        last = i  # the sentence's last token if it ends here: absorb '?!', '."' and ')'
        if _is_terminal(tokens[i].text):
            while (
                last + 1 < len(tokens)
                and tokens[last + 1].start == tokens[last].end
                and (tokens[last + 1].text in _CLOSING or _TERMINAL.fullmatch(tokens[last + 1].text))
            ):
                last += 1
        nxt = tokens[last + 1] if last + 1 < len(tokens) else None
        paragraph = nxt is not None and _PARAGRAPH_BREAK.search(text, tokens[last].end, nxt.start) is not None
        if paragraph or (
            _is_terminal(tokens[i].text)
            and _ends_sentence(tokens[i].text, tokens[last].text in _QUOTES, nxt and nxt.text)
        ):
            sentences.append(text[tokens[first].start : tokens[last].end])
            first = last + 1
        i = last + 1
    if first < len(tokens):
        sentences.append(text[tokens[first].start : tokens[-1].end])
    return sentences
