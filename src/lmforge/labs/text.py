"""Phase 1, text basics: three tokenizers trained on the same text, compared on held-out text."""

from __future__ import annotations

import math

from lmforge.assets import tinyshakespeare_path
from lmforge.classic.ngram import KneserNey
from lmforge.io import read_text
from lmforge.labs._common import bar_chart, data_path
from lmforge.labs.registry import LabContext, LabResult, Reference, lab
from lmforge.tokenizers import ByteLevelBPE, CharTokenizer, Tokenizer, train_wordpiece


def _bits_per_byte(tok: Tokenizer, train: str, held_out: str) -> tuple[float, float]:
    """Tokens per byte of ``held_out``, and the bits per byte of a trigram Kneser-Ney LM over its tokens.

    Both count the held-out text's UTF-8 bytes, so tokenizers with different vocabularies compare
    on the same unit: fewer tokens per byte is a shorter sequence, fewer bits per byte a better model.
    """
    train_ids = [str(i) for i in tok.encode(train)]
    held_ids = [str(i) for i in tok.encode(held_out)]
    # every id once more, as its own sentence: an add-one prior so that ids unseen in training keep some mass
    lm = KneserNey(order=3).fit([train_ids, [str(i) for i in range(tok.vocab_size)]])
    n_bytes = len(held_out.encode("utf-8"))
    bits = math.log2(lm.perplexity([held_ids])) * (len(held_ids) + 1)  # +1: the </s> that perplexity scores
    return len(held_ids) / n_bytes, bits / n_bytes


@lab(id="text-tokenizers", phase="text", title="Char vs BPE vs WordPiece on the same text",
     teaches=("lmforge.tokenizers.char", "lmforge.tokenizers.bpe", "lmforge.tokenizers.wordpiece",
              "lmforge.classic.ngram"),
     docs="docs/labs.md#text-tokenizers", minutes=3)
def tokenizers_lab(ctx: LabContext) -> LabResult:
    """Train a char tokenizer, a byte-level BPE and a WordPiece on tinyshakespeare, then measure each on
    held-out lines: vocabulary, tokens per byte, and bits per byte of a trigram Kneser-Ney LM over its tokens.
    GPT-2's released BPE (50,257 ids) is measured on the same held-out text as the reference."""
    text = read_text(tinyshakespeare_path())
    n_train, n_held = (20_000, 2_000) if ctx.smoke else (300_000, 30_000)
    train, held_out = text[:n_train], text[-n_held:]
    vocab = 300 if ctx.smoke else 2_000
    tokenizers: dict[str, Tokenizer] = {
        "char": CharTokenizer.train(text),  # every character of the corpus: a char vocab has no fallback
        "bpe": ByteLevelBPE.train(train, vocab_size=vocab),
        "wordpiece": train_wordpiece(train, vocab_size=vocab),
    }
    gpt2_dir = data_path("gpt2_tokenizer")
    gpt2 = ByteLevelBPE.from_gpt2_files(gpt2_dir / "encoder.json", gpt2_dir / "vocab.bpe")
    metrics: dict[str, float] = {}
    rows = []
    for name, tok in tokenizers.items():
        tpb, bpb = _bits_per_byte(tok, train, held_out)
        metrics |= {f"{name}_vocab": tok.vocab_size, f"{name}_tokens_per_byte": tpb, f"{name}_bits_per_byte": bpb}
        rows.append(f"{name} {tpb:.3f} tok/B {bpb:.2f} bit/B (vocab {tok.vocab_size})")
        ctx.console.print(f"  {rows[-1]}")
    gpt2_tpb = len(gpt2.encode(held_out)) / len(held_out.encode("utf-8"))
    metrics["gpt2_tokens_per_byte"] = gpt2_tpb
    names = list(tokenizers)
    plot = bar_chart(ctx.out_dir / "tokens_per_byte.png", [*names, "gpt2 (50k)"],
                     [metrics[f"{n}_tokens_per_byte"] for n in names] + [gpt2_tpb], "tokens per byte",
                     "Held-out tinyshakespeare: sequence length per byte")
    bar_chart(ctx.out_dir / "bits_per_byte.png", names, [metrics[f"{n}_bits_per_byte"] for n in names],
              "bits per byte (trigram KN)", "Held-out tinyshakespeare: how predictable the tokens are")
    return LabResult(
        headline="; ".join(rows),
        metrics=metrics,
        reference=Reference(f"GPT-2 BPE (50,257 ids): {gpt2_tpb:.3f} tokens/byte on the same held-out text",
                            "OpenAI GPT-2 encoder.json + vocab.bpe, measured in this run"),
        artifacts=[plot, ctx.out_dir / "bits_per_byte.png"],
        notes="WordPiece lowercases and drops whitespace, so it encodes less information than char and BPE "
              "and its bits per byte is not a like-for-like score; tinyshakespeare's archaic English "
              "is not what GPT-2's vocabulary was fit to.",
    )
