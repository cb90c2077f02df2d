"""Intrinsic evaluation: word similarity (Spearman) and word analogies (accuracy).

- Similarity sets (WordSim-353, SimLex-999): word pairs with human scores. We rank
  the pairs by cosine similarity and report Spearman's rank correlation with the
  human ranking. WordSim-353 rewards relatedness (cup-coffee), SimLex-999 only
  true similarity (cup-mug), which is much harder for window-based embeddings.
- Analogies (Google's questions-words.txt, Mikolov et al. 2013): "a b c d" means
  a : b :: c : d; a question counts as correct when the 3CosAdd answer (see
  :meth:`WordVectors.analogy`) is exactly d.

Pairs/questions with a word the vectors cannot represent are skipped and
reported (as gensim does), so always read a score together with its coverage.
Everything is lowercased (the vectors in lmforge are lowercase).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from lmforge.embeddings.vectors import WordVectors
from lmforge.errors import DataError

GENSIM_TEST_DATA = ("wordsim353.tsv", "simlex999.txt", "questions-words.txt")


def eval_data_path(name: str) -> Path:
    """Path of a standard evaluation file shipped inside the installed ``gensim`` package.

    WordSim-353 and SimLex-999 come without an explicit licence, so lmforge does not
    redistribute them; gensim's test data has them (and questions-words.txt).
    """
    if name not in GENSIM_TEST_DATA:
        raise DataError(f"unknown evaluation set {name!r}; known: {', '.join(GENSIM_TEST_DATA)}")
    spec = importlib.util.find_spec("gensim")
    if spec is None or spec.origin is None:
        raise DataError(f"{name} ships with the gensim package: `pip install gensim`, or pass the file's path")
    path = Path(spec.origin).parent / "test" / "test_data" / name
    if not path.is_file():
        raise DataError(f"{path} not found in the installed gensim package")
    return path


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n, tied values sharing their mean rank (as scipy.stats.rankdata)."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(1, len(x) + 1)
    _, group = np.unique(x, return_inverse=True)
    return (np.bincount(group, ranks) / np.bincount(group))[group]


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho: the Pearson correlation of the two rankings."""
    rx, ry = average_ranks(np.asarray(x, np.float64)), average_ranks(np.asarray(y, np.float64))
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denom = np.sqrt((rx * rx).sum() * (ry * ry).sum())
    return float((rx * ry).sum() / denom) if denom > 0 else float("nan")


def read_word_pairs(path: str | os.PathLike[str]) -> list[tuple[str, str, float]]:
    """``word1<TAB>word2<TAB>score`` lines; ``#`` lines are comments."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"word-pair file not found: {path}")
    pairs = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        try:
            pairs.append((parts[0].lower(), parts[1].lower(), float(parts[2])))
        except (IndexError, ValueError):
            raise DataError(f"{path}: line {lineno}: expected 'word1<TAB>word2<TAB>score', got {line!r}") from None
    if not pairs:
        raise DataError(f"{path}: no word pairs")
    return pairs


@dataclass
class SimilarityResult:
    spearman: float
    used: int  # pairs with both words representable
    total: int

    @property
    def coverage(self) -> float:
        return self.used / self.total


def evaluate_similarity(vectors: WordVectors, path: str | os.PathLike[str]) -> SimilarityResult:
    pairs = read_word_pairs(path)
    known = [(a, b, s) for a, b, s in pairs if vectors.has_vector(a) and vectors.has_vector(b)]
    if len(known) < 2:
        return SimilarityResult(float("nan"), len(known), len(pairs))
    model = np.array([vectors.similarity(a, b) for a, b, _ in known])
    human = np.array([s for _, _, s in known])
    return SimilarityResult(spearman(model, human), len(known), len(pairs))


def read_analogies(path: str | os.PathLike[str]) -> list[tuple[str, list[str]]]:
    """(section, [a, b, c, d]) per question; ``: name`` lines start a section."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"analogy file not found: {path}")
    questions, section = [], ""
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith(":"):
            section = line[1:].strip()
            continue
        words = line.lower().split()
        if not words:
            continue
        if len(words) != 4:
            raise DataError(f"{path}: line {lineno}: expected 4 words 'a b c d', got {line!r}")
        questions.append((section, words))
    if not questions:
        raise DataError(f"{path}: no analogy questions")
    return questions


@dataclass
class AnalogyResult:
    correct: int
    used: int  # questions whose four words are all among the candidate words
    total: int
    sections: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (correct, used)

    @property
    def accuracy(self) -> float:
        return self.correct / self.used if self.used else float("nan")

    @property
    def coverage(self) -> float:
        return self.used / self.total


def evaluate_analogies(vectors: WordVectors, path: str | os.PathLike[str], restrict_vocab: int | None = None,
                       batch_size: int = 256) -> AnalogyResult:
    """3CosAdd accuracy where answers (and questions) are limited to the ``restrict_vocab`` most
    frequent words (all words if None), as in word2vec's compute-accuracy and gensim.

    Batched: Q questions at a time, one (Q, D) @ (D, N) product scores every candidate.
    """
    n = min(len(vectors), restrict_vocab or len(vectors))
    table = vectors.unit[:n]  # (N, D)
    questions = read_analogies(path)
    usable = [(s, q) for s, q in questions if all(vectors.index.get(w, n) < n for w in q)]
    ids = torch.tensor([[vectors.index[w] for w in q] for _, q in usable], dtype=torch.long).reshape(-1, 4)
    hits = torch.zeros(len(usable), dtype=torch.bool)
    for start in range(0, len(usable), batch_size):
        a, b, c, d = ids[start:start + batch_size].unbind(dim=1)  # each (Q,)
        query = table[b] - table[a] + table[c]  # (Q, D)
        scores = query @ table.T  # (Q, N)
        rows = torch.arange(len(a))
        for excluded in (a, b, c):
            scores[rows, excluded] = -float("inf")
        hits[start:start + batch_size] = scores.argmax(dim=1) == d
    sections: dict[str, tuple[int, int]] = {}
    for (section, _), hit in zip(usable, hits.tolist(), strict=True):
        right, seen = sections.get(section, (0, 0))
        sections[section] = (right + hit, seen + 1)
    return AnalogyResult(int(hits.sum()), len(usable), len(questions), sections)


@dataclass
class EvaluationReport:
    """The three standard scores; ``None`` where the evaluation file is not available."""

    wordsim: SimilarityResult | None
    simlex: SimilarityResult | None
    analogies: AnalogyResult | None

    def lines(self) -> list[str]:
        out = []
        for name, sim in (("WordSim-353", self.wordsim), ("SimLex-999", self.simlex)):
            if sim is not None:
                out.append(f"{name}: Spearman {sim.spearman:.3f} on {sim.used}/{sim.total} pairs")
        if self.analogies is not None:
            a = self.analogies
            out.append(f"Google analogies (3CosAdd): accuracy {a.accuracy:.3f} on {a.used}/{a.total} questions")
        if not out:
            out.append("no evaluation data found (WordSim-353/SimLex-999 ship with `pip install gensim`)")
        return out


def evaluate_all(vectors: WordVectors, analogy_path: str | os.PathLike[str] | None = None,
                 restrict_vocab: int | None = 30_000) -> EvaluationReport:
    """WordSim-353, SimLex-999 and analogies, each skipped (None) when its file cannot be found."""

    def find(name: str) -> Path | None:
        try:
            return eval_data_path(name)
        except DataError:
            return None

    wordsim, simlex = find("wordsim353.tsv"), find("simlex999.txt")
    analogies = Path(analogy_path) if analogy_path is not None else find("questions-words.txt")
    return EvaluationReport(
        evaluate_similarity(vectors, wordsim) if wordsim else None,
        evaluate_similarity(vectors, simlex) if simlex else None,
        evaluate_analogies(vectors, analogies, restrict_vocab) if analogies else None,
    )
