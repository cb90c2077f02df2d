"""Task metrics, each written from its definition and tested equal to the reference implementation.

- :mod:`~lmforge.evaluate.seqeval_like`: entity-level precision / recall / F1 for BIO tagging (``seqeval``);
- :mod:`~lmforge.evaluate.squad`: SQuAD v1.1 exact match and token F1 (the official ``evaluate-v1.1.py``);
- :mod:`~lmforge.evaluate.rouge`: ROUGE-N, ROUGE-L and ROUGE-Lsum (Google's ``rouge-score``);
- :mod:`~lmforge.evaluate.bleu`: corpus BLEU, delegated to ``sacrebleu`` (the standard is the implementation).
"""

from lmforge.evaluate.rouge import rouge_scores, rouge_tokenize
from lmforge.evaluate.seqeval_like import EntityScores, entity_report, get_entities
from lmforge.evaluate.squad import exact_match, normalize_answer, squad_scores, token_f1

__all__ = [
    "EntityScores",
    "entity_report",
    "exact_match",
    "get_entities",
    "normalize_answer",
    "rouge_scores",
    "rouge_tokenize",
    "squad_scores",
    "token_f1",
]
