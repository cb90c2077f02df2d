"""Corpus BLEU and chrF for translation: this module *is* ``sacrebleu``, not a re-implementation.

BLEU scores depend on tokenisation and smoothing details, so numbers are only comparable when
everyone uses the same implementation; sacrebleu is that standard (it prints a signature such as
``nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0``), so lmforge calls it rather than
re-deriving it, and claims nothing about BLEU beyond calling it correctly. What this module adds is
the shape users have: a list of references *per hypothesis*, of any length, which sacrebleu wants
transposed into reference streams (``streams[k][i]`` is reference ``k`` of sentence ``i``, ``None``
where a sentence has fewer). Its tests check that against sacrebleu's own published test vectors
(several references, other tokenizers), not against a second run of sacrebleu.

Definition, for reference: BLEU is the geometric mean of clipped 1..4-gram precisions (n-grams
counted against all of a sentence's references) times a brevity penalty
``min(1, exp(1 - ref_len / hyp_len))``; chrF is the F-beta (beta 2) of character 1..6-gram
precision and recall.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lmforge.errors import ConfigError


def reference_streams(references: Sequence[str | Sequence[str]]) -> list[list[str | None]]:
    """sacrebleu's layout of per-hypothesis references: one stream per reference slot, ``None`` as padding."""
    per_sentence = [[refs] if isinstance(refs, str) else list(refs) for refs in references]
    empty = next((i for i, refs in enumerate(per_sentence) if not refs), None)
    if empty is not None:
        raise ValueError(f"hypothesis {empty} has no reference")
    width = max(map(len, per_sentence), default=1)
    return [[refs[k] if k < len(refs) else None for refs in per_sentence] for k in range(width)]


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str | Sequence[str]], *,
                tokenize: str | None = None, lowercase: bool = False) -> dict[str, float | str]:
    """``{"bleu": ..., "chrf": ..., "signature": ...}``: sacrebleu's corpus BLEU and chrF.

    ``references[i]`` is the reference of ``hypotheses[i]`` or a list of its references (any number,
    at least one). ``tokenize`` (sacrebleu's name: ``13a`` by default, ``intl``, ``char``, ``none``, ...)
    and ``lowercase`` apply to BLEU and are recorded in its signature; chrF runs with sacrebleu's defaults
    (chrF2, case-sensitive), plus ``lowercase``.
    """
    try:
        import sacrebleu
    except ImportError:
        raise ConfigError("BLEU needs the sacrebleu package: pip install sacrebleu") from None
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    streams = reference_streams(references)
    bleu = sacrebleu.metrics.BLEU(tokenize=tokenize, lowercase=lowercase)
    score = bleu.corpus_score(list(hypotheses), streams)
    chrf = sacrebleu.metrics.CHRF(lowercase=lowercase).corpus_score(list(hypotheses), streams)
    return {"bleu": score.score, "chrf": chrf.score, "signature": str(bleu.get_signature())}


@dataclass(frozen=True)
class BleuScores:
    cased: float  # sacreBLEU 13a against the original references: the standard score
    lowercased: float  # the same with capitalisation ignored (always >= cased)

    @classmethod
    def of(cls, hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> BleuScores:
        return cls(float(corpus_bleu(hypotheses, references)["bleu"]),
                   float(corpus_bleu(hypotheses, references, lowercase=True)["bleu"]))
