"""Sentence-encoder throughput: lmforge's batched ``SentenceEncoder`` vs sentence-transformers ``encode``.

    python -m benchmarks.sentence_encoder [--sentences 512] [--pairs 5]

Same model (all-MiniLM-L6-v2), same texts (Shakespeare snippets of 1 to 5 lines), batch 64, same run.
Each row's ratio is the median over back-to-back pairs (``_common.paired_ratio``), so load from other
work on a shared machine moves both sides alike. The texts include tokenization on both sides. The
bf16 row also reports the worst cosine to the fp32 vectors (the encoder's auto rule needs >= 0.999).
"""

from __future__ import annotations

import argparse

from benchmarks._common import paired_ratio
from benchmarks._machine import machine_summary
from lmforge.assets import tinyshakespeare_path
from lmforge.infer.sentence import SentenceEncoder
from lmforge.interop.convert import minilm_dir, minilm_hf_path


def snippets(n: int) -> list[str]:
    lines = [ln.strip() for ln in tinyshakespeare_path().read_text().splitlines() if ln.strip()]
    step = len(lines) // n
    return [" ".join(lines[i * step + 3: i * step + 4 + i % 5]) for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=512)
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args()
    from sentence_transformers import SentenceTransformer

    texts = snippets(args.sentences)
    reference = SentenceTransformer(str(minilm_hf_path()), device="cpu")

    def theirs():
        return reference.encode(texts, batch_size=64, convert_to_tensor=True, normalize_embeddings=True)

    print(machine_summary())
    print(f"\n{len(texts)} sentences, batch 64, all-MiniLM-L6-v2\n")
    print("| encoder | sentences/s (best) | sentence-transformers sentences/s (best) | speed vs ST (median of pairs) |"
          " worst cosine to ST fp32 |")
    print("|---|---:|---:|---:|---:|")
    for precision in ("fp32", "bf16"):
        encoder = SentenceEncoder.from_dir(minilm_dir(), max_tokens=256, batch_size=64, precision=precision)
        cosine = (encoder.encode(texts) * theirs()).sum(-1).min().item()
        ratio, ours_s, theirs_s = paired_ratio(lambda e=encoder: e.encode(texts), theirs, pairs=args.pairs, warmup=1)
        print(f"| lmforge {precision} | {len(texts) / ours_s:.0f} | {len(texts) / theirs_s:.0f} | {ratio:.2f}x |"
              f" {cosine:.5f} |")


if __name__ == "__main__":
    main()
