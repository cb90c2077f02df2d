"""Entity-level precision, recall and F1 for BIO-tagged sequences (what ``seqeval`` computes).

Token accuracy flatters a tagger: in WNUT-17 over 90% of tokens are ``O``, so tagging
everything ``O`` is over 90% accurate and finds nothing. NER is therefore scored on
*entities*: a predicted entity counts only when its type, first and last token all equal
a gold entity's. With ``T`` gold and ``P`` predicted entity sets::

    precision = |T ∩ P| / |P|     recall = |T ∩ P| / |T|     F1 = 2 * precision * recall / (precision + recall)

Two ways to read tags into entities:

- ``mode="default"`` (the conlleval rules, seqeval's default): tolerant of ill-formed
  sequences. A chunk starts at ``B``, at an ``I`` after ``O``, or where the type
  changes; so ``I-ORG I-ORG`` is one ORG entity.
- ``mode="strict"`` (IOB2): an entity is exactly ``B-X`` followed by ``I-X``s; a stray
  ``I-X`` is no entity at all, so the same ``I-ORG I-ORG`` scores nothing.

IOBES tags (``E``/``S``) are understood by the default rules as well. A list of sentences
is joined with an ``O`` between them, so entities never cross a sentence boundary and
their offsets count across the whole corpus (as in seqeval).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Entity = tuple[str, int, int]  # (type, first token, last token): inclusive, as seqeval
Tags = Sequence[str] | Sequence[Sequence[str]]


def _flatten(tags: Tags) -> list[str]:
    if any(isinstance(t, (list, tuple)) for t in tags):
        return [tag for sentence in tags for tag in [*sentence, "O"]]
    return list(tags)  # type: ignore[arg-type]


def _split(tag: str) -> tuple[str, str]:
    """``"B-person"`` -> ``("B", "person")``; a bare ``"B"`` or ``"O"`` gets type ``"_"``."""
    return tag[:1], tag[1:].split("-", maxsplit=1)[-1] or "_"


def _chunk_ends(prev: str, tag: str, prev_type: str, type_: str) -> bool:
    """Does the chunk that ``prev`` belongs to end before ``tag``?"""
    if prev in ("E", "S"):
        return True
    if prev in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev not in ("O", ".") and prev_type != type_


def _chunk_starts(prev: str, tag: str, prev_type: str, type_: str) -> bool:
    """Does a new chunk start at ``tag``? (An ``I``/``E`` right after ``O``/``E``/``S`` does, tolerantly.)"""
    if tag in ("B", "S"):
        return True
    if prev in ("E", "S", "O") and tag in ("E", "I"):
        return True
    return tag not in ("O", ".") and prev_type != type_


def get_entities(tags: Tags) -> list[Entity]:
    """Entities under the conlleval rules, e.g. ``["B-PER", "I-PER", "O"]`` -> ``[("PER", 0, 1)]``."""
    seq = _flatten(tags)
    entities: list[Entity] = []
    prev, prev_type, begin = "O", "", 0
    for i, raw in enumerate([*seq, "O"]):  # the sentinel "O" closes a chunk still open at the end
        tag, type_ = _split(raw)
        if _chunk_ends(prev, tag, prev_type, type_):
            entities.append((prev_type, begin, i - 1))
        if _chunk_starts(prev, tag, prev_type, type_):
            begin = i
        prev, prev_type = tag, type_
    return entities


def get_entities_strict(tags: Tags) -> list[Entity]:
    """IOB2 entities: ``B-X`` then any run of ``I-X``; an ``I`` that continues nothing is dropped."""
    seq = _flatten(tags)
    entities: list[Entity] = []
    i = 0
    while i < len(seq):
        tag, type_ = _split(seq[i])
        if tag != "B":
            i += 1
            continue
        end = i
        while end + 1 < len(seq) and _split(seq[end + 1]) == ("I", type_):
            end += 1
        entities.append((type_, i, end))
        i = end + 1
    return entities


@dataclass
class TypeScores:
    precision: float
    recall: float
    f1: float
    support: int  # gold entities of this type


@dataclass
class EntityScores:
    """Micro-averaged scores (the headline numbers), per-type scores and their averages."""

    precision: float
    recall: float
    f1: float
    accuracy: float  # token-level, for reference only
    per_type: dict[str, TypeScores]
    macro_f1: float
    weighted_f1: float

    def table(self) -> str:
        rows = ["| type | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        rows += [f"| {t} | {s.precision:.4f} | {s.recall:.4f} | {s.f1:.4f} | {s.support} |"
                 for t, s in self.per_type.items()]
        support = sum(s.support for s in self.per_type.values())
        rows.append(f"| **micro avg** | {self.precision:.4f} | {self.recall:.4f} | {self.f1:.4f} | {support} |")
        return "\n".join(rows)


def _prf(tp: int, n_pred: int, n_true: int) -> tuple[float, float, float]:
    """Precision, recall, F1 with 0 wherever a denominator is 0 (seqeval's ``zero_division`` default)."""
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_true if n_true else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def entity_report(y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]],
                  mode: str = "default") -> EntityScores:
    """Score predicted tag sequences against gold ones (one list of tags per sentence)."""
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} gold sentences but {len(y_pred)} predicted")
    for i, (t, p) in enumerate(zip(y_true, y_pred, strict=True)):
        if len(t) != len(p):
            raise ValueError(f"sentence {i}: {len(t)} gold tags but {len(p)} predicted")
    if mode not in ("default", "strict"):
        raise ValueError(f"mode must be 'default' or 'strict', got {mode!r}")
    extract = get_entities if mode == "default" else get_entities_strict
    gold, pred = set(extract(y_true)), set(extract(y_pred))
    types = sorted({e[0] for e in gold | pred})
    per_type = {}
    for t in types:
        g, p = {e for e in gold if e[0] == t}, {e for e in pred if e[0] == t}
        per_type[t] = TypeScores(*_prf(len(g & p), len(p), len(g)), support=len(g))
    flat_true, flat_pred = _flatten(y_true), _flatten(y_pred)
    n_tokens = sum(len(s) for s in y_true)
    wrong = sum(a != b for a, b in zip(flat_true, flat_pred, strict=True))  # the "O" separators always agree
    total_support = sum(s.support for s in per_type.values())
    return EntityScores(
        *_prf(len(gold & pred), len(pred), len(gold)),
        accuracy=(n_tokens - wrong) / n_tokens if n_tokens else 0.0,
        per_type=per_type,
        macro_f1=sum(s.f1 for s in per_type.values()) / len(per_type) if per_type else 0.0,
        weighted_f1=(sum(s.f1 * s.support for s in per_type.values()) / total_support) if total_support else 0.0,
    )
