"""Corpus BLEU and chrF for translation, computed by ``sacrebleu``.

BLEU scores depend on tokenisation and smoothing details, so numbers are only comparable
when everyone uses the same implementation; sacrebleu *is* that standard (it prints a
signature such as ``nrefs:1|case:mixed|tok:13a|smooth:exp``), so we call it instead of
re-deriving it. Definition, for reference: the geometric mean of clipped 1..4-gram
precisions times a brevity penalty ``min(1, exp(1 - ref_len / hyp_len))``.
"""

from __future__ import annotations

from collections.abc import Sequence

from lmforge.errors import ConfigError


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float | str]:
    """``{"bleu": ..., "chrf": ..., "signature": ...}`` for one reference per hypothesis."""
    try:
        import sacrebleu
    except ImportError:
        raise ConfigError("BLEU needs the sacrebleu package: pip install sacrebleu") from None
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    bleu = sacrebleu.metrics.BLEU()
    score = bleu.corpus_score(list(hypotheses), [list(references)])
    chrf = sacrebleu.metrics.CHRF().corpus_score(list(hypotheses), [list(references)])
    return {"bleu": score.score, "chrf": chrf.score, "signature": str(bleu.get_signature())}
