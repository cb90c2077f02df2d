"""Every lmforge Transformer family vs its Hugging Face twin: same config, same weights, same batch.

    python -m benchmarks.families [--pairs 20]

For each family: forward (inference, no grad) and training step (forward + loss + backward) throughput in
tokens/s, and the peak extra memory of one training step. Twins share weights through the real export path
(lmforge -> HF checkpoint -> ``from_pretrained``); HF uses its default (SDPA) attention. The training step
is each library's own: lmforge's training loss (``causal_lm_loss`` for GPT/Llama/Mistral, which projects and
scores the logits a chunk at a time, see ``objectives/linear_ce.py``; cross-entropy of the logits for
BERT/T5/DeBERTa/RoBERTa;
``plm_loss`` at T/8 permutation-LM targets for XLNet, the same perm_mask and target_mapping for HF),
and for HF ``F.cross_entropy`` of the model's logits, which is what ``model(..., labels=...)`` computes.

Speed-up = median time ratio over back-to-back pairs of calls (``benchmarks/_common.paired_ratio``); tok/s
from each side's fastest call. Peak memory is measured in a second process per family: the rise of the
resident-set high-water mark (Linux ``VmHWM``, reset before each step) over its size before the step, with a
fixed malloc mmap threshold so freed blocks go back to the OS and every step's peak is measured afresh
(timings run under the default allocator, as users run).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from benchmarks._common import MEMORY_ENV, markdown_table, paired_ratio, peak_extra_memory, run_json
from benchmarks._machine import machine_summary
from lmforge.objectives.clm import causal_lm_loss

FAMILIES = ("gpt", "llama", "bert", "t5", "deberta", "xlnet", "roberta", "mistral")
B, T, T_DEC = 8, 256, 64
VOCAB = 8192


@dataclass
class Twins:
    ours: torch.nn.Module
    hf: torch.nn.Module
    ours_logits: Callable[[], torch.Tensor]
    hf_logits: Callable[[], torch.Tensor]
    ours_loss: Callable[[], torch.Tensor]  # lmforge's own training loss for this family
    targets: torch.Tensor
    tokens: int  # per batch (T5: encoder + decoder tokens)

    def hf_loss(self) -> torch.Tensor:
        return F.cross_entropy(self.hf_logits().flatten(0, 1), self.targets.flatten())


def _ours(family: str) -> torch.nn.Module:
    """The benchmarked lmforge model of each family (random weights, seeded by the caller)."""
    if family == "gpt":
        from lmforge.models.gpt import GPT, GPTConfig

        return GPT(GPTConfig(vocab_size=VOCAB, context_length=T, d_model=256, n_layers=4, n_heads=4))
    if family == "llama":
        from lmforge.models.llama import Llama, LlamaConfig

        return Llama(LlamaConfig(vocab_size=VOCAB, context_length=T, d_model=256, n_layers=4, n_heads=8,
                                 n_kv_heads=2, d_mlp=688))
    if family == "mistral":  # Llama's row with a 64-token sliding window over the 256-token batch
        from lmforge.models.llama import Llama, LlamaConfig

        return Llama(LlamaConfig(vocab_size=VOCAB, context_length=T, d_model=256, n_layers=4, n_heads=8,
                                 n_kv_heads=2, d_mlp=688, sliding_window=64))
    if family == "roberta":
        from lmforge.models.roberta import Roberta, RobertaConfig

        return Roberta(RobertaConfig(vocab_size=VOCAB, context_length=T, d_model=256, n_layers=4, n_heads=4,
                                     d_mlp=1024, dropout=0.0))
    if family == "bert":
        from lmforge.models.bert import Bert, BertConfig

        return Bert(BertConfig(vocab_size=VOCAB, context_length=T, d_model=256, n_layers=4, n_heads=4, d_mlp=1024,
                               dropout=0.0))
    if family == "deberta":  # v3 options: 256 log buckets, shared position keys, normed relative table
        from lmforge.models.deberta import Deberta, DebertaConfig

        return Deberta(DebertaConfig(vocab_size=VOCAB, context_length=T, d_model=256, n_layers=4, n_heads=4,
                                     d_mlp=1024, dropout=0.0))
    if family == "xlnet":
        from lmforge.models.xlnet import XLNet, XLNetConfig

        return XLNet(XLNetConfig(vocab_size=VOCAB, d_model=256, n_layers=4, n_heads=4, d_mlp=1024, dropout=0.0))
    from lmforge.models.t5 import T5, T5Config

    return T5(T5Config(vocab_size=VOCAB, d_model=256, d_head=32, d_mlp=1024, n_layers=3, n_heads=8, dropout=0.0))


def _twins(family: str) -> Twins:
    import transformers

    from lmforge.interop.convert import export_hf

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, VOCAB, (B, T), generator=g)
    ours = _ours(family)
    with tempfile.TemporaryDirectory() as d:  # the HF twin: lmforge's own export, loaded by transformers
        hf = getattr(transformers, export_hf(ours, d)).from_pretrained(d)
    if family in ("gpt", "llama", "mistral"):
        return Twins(ours, hf, lambda: ours(ids), lambda: hf(input_ids=ids).logits,
                     lambda: causal_lm_loss(ours, (ids, ids)), ids, B * T)
    if family == "bert":
        mask = torch.ones_like(ids)

        def bert_logits() -> torch.Tensor:
            return ours.mlm_logits(ours(ids, attention_mask=mask))

        return Twins(ours, hf, bert_logits, lambda: hf(input_ids=ids, attention_mask=mask).prediction_logits,
                     lambda: F.cross_entropy(bert_logits().flatten(0, 1), ids.flatten()), ids, B * T)
    if family in ("deberta", "roberta"):
        def deberta_logits() -> torch.Tensor:
            return ours.mlm_logits(ours(ids))

        return Twins(ours, hf, deberta_logits, lambda: hf(input_ids=ids).logits,
                     lambda: F.cross_entropy(deberta_logits().flatten(0, 1), ids.flatten()), ids, B * T)
    if family == "xlnet":  # permutation LM: predict the last T/8 tokens of a random order per row
        from lmforge.objectives.plm import permutation_batch, plm_loss

        batch = permutation_batch(ids, T // 8, g)
        _, perm, targets, labels = batch
        return Twins(ours, hf, lambda: ours.logits(ours(ids, perm, targets)),
                     lambda: hf(input_ids=ids, perm_mask=perm, target_mapping=targets).logits,
                     lambda: plm_loss(ours, batch), labels, B * T)
    dec = ids[:, :T_DEC]
    return Twins(ours, hf, lambda: ours(ids, dec), lambda: hf(input_ids=ids, decoder_input_ids=dec).logits,
                 lambda: F.cross_entropy(ours(ids, dec).flatten(0, 1), dec.flatten()), dec, B * (T + T_DEC))


def _steps(twins: Twins) -> dict[str, Callable[[], None]]:
    """The four timed calls: {ours, hf} x {forward, train}."""
    def forward(logits: Callable[[], torch.Tensor]) -> Callable[[], None]:
        def step() -> None:
            with torch.no_grad():
                logits()
        return step

    def train(model: torch.nn.Module, loss: Callable[[], torch.Tensor]) -> Callable[[], None]:
        def step() -> None:
            loss().backward()
            model.zero_grad(set_to_none=True)
        return step

    twins.ours.train(), twins.hf.train()
    return {"ours forward": forward(twins.ours_logits), "hf forward": forward(twins.hf_logits),
            "ours train": train(twins.ours, twins.ours_loss), "hf train": train(twins.hf, twins.hf_loss)}


def measure(family: str, pairs: int) -> dict:
    twins = _twins(family)
    steps = _steps(twins)
    result = {"tokens": twins.tokens, "params": sum(p.numel() for p in twins.ours.parameters())}
    for mode in ("forward", "train"):
        ratio, ours, theirs = paired_ratio(steps[f"ours {mode}"], steps[f"hf {mode}"], pairs)
        result[mode] = {"speedup": ratio, "ours_s": ours, "hf_s": theirs}
    return result


def measure_memory(family: str) -> dict:
    steps = _steps(_twins(family))
    for name in ("ours train", "hf train"):
        steps[name]()  # warm up: first calls allocate caches that later steps reuse
    return {name: peak_extra_memory(steps[name]) for name in ("ours train", "hf train")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=20, help="back-to-back (ours, HF) call pairs per measurement")
    parser.add_argument("--families", nargs="+", choices=FAMILIES, default=FAMILIES, help="the rows to measure")
    parser.add_argument("--family", choices=FAMILIES, help="(internal) measure one family and print JSON")
    parser.add_argument("--memory", action="store_true", help="(internal) with --family: peak memory only")
    args = parser.parse_args()
    if args.family:
        print(json.dumps(measure_memory(args.family) if args.memory else measure(args.family, args.pairs)))
        return
    rows = []
    for family in args.families:
        result = run_json("benchmarks.families", "--family", family, "--pairs", str(args.pairs))
        mem = run_json("benchmarks.families", "--family", family, "--memory", env=MEMORY_ENV)
        for mode in ("forward", "train"):
            r = result[mode]
            peak = f"{mem['ours train'] / 2**20:.0f} / {mem['hf train'] / 2**20:.0f} MiB" if mode == "train" else ""
            rows.append([f"{family} ({result['params'] / 1e6:.1f}M)", mode, f"{result['tokens'] / r['ours_s']:,.0f}",
                         f"{result['tokens'] / r['hf_s']:,.0f}", f"{r['speedup']:.2f}x", peak])
    print(f"Machine: {machine_summary()}; torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print(f"Batch {B} x {T} tokens (T5: {T} encoder + {T_DEC} decoder), fp32, vocab {VOCAB}; "
          f"{args.pairs} call pairs per row.\n")
    print(markdown_table(["family", "pass", "lmforge tok/s", "HF tok/s", "speed-up", "peak train memory (ours / HF)"],
                         rows))


if __name__ == "__main__":
    main()
