"""Fine-tuned task heads on real data, each next to its baseline, measured in one run.

    python -m benchmarks.finetune_tasks                 # every task (about 15 minutes on 2 cores)
    python -m benchmarks.finetune_tasks --only ner,qa   # a subset

- classify: SMS spam (seeded stratified 80/20 split, as ``lmforge.classic``): MiniLM (mean pooling)
  and a GPT last-token head vs TF-IDF + logistic regression; UCI sentiment: MiniLM vs TF-IDF + LR.
- ner: WNUT-17 train -> ``emerging.test.annotated``: MiniLM token classification vs spaCy
  ``en_core_web_sm`` on the same tokens (entity-level F1, seqeval rules).
- qa: SQuAD v1.1 dev half: train on the first 20 articles, score EM/F1 on held-out articles.
- translate: eng-fra, the shared split: Transformer encoder-decoder vs the GRU seq2seq (same budget).

Every fine-tune has a time budget (its learning-rate schedule ends with it), so the table
says how far a laptop CPU gets in minutes, not the models' ceilings.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from benchmarks._common import markdown_table
from benchmarks._machine import machine_summary
from lmforge.data.annotated import read_conll, read_squad
from lmforge.tasks.backbone import load_backbone, minilm_dir
from lmforge.tasks.data import read_text_labels, split_examples, split_squad_by_article
from lmforge.tasks.training import FinetuneConfig

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
TESTS = Path(__file__).resolve().parents[1] / "tests" / "data"
SMS = TESTS / "sentiment" / "sms_spam" / "SMSSpamCollection"
UCI = TESTS / "sentiment" / "uci_sentiment_labelled"
Row = list[str]


def _tfidf_lr(train, test) -> float:
    from lmforge.classic import TextClassifier

    clf = TextClassifier.train([e.text for e in train], [e.label for e in train], kind="logreg", ngram_range=(1, 2))
    predicted = clf.predict([e.text for e in test])
    return float((predicted == [e.label for e in test]).mean())


def _classify_rows(out: Path, minutes: float) -> list[Row]:
    from lmforge.models.gpt import GPT, GPTConfig
    from lmforge.tasks.classify import finetune_classifier
    from lmforge.tokenizers import ByteLevelBPE

    rows = []
    train, test = split_examples(read_text_labels(SMS, "1", "0", header=False), 0.2, seed=0)
    t = time.perf_counter()
    acc = _tfidf_lr(train, test)
    rows.append(["SMS spam", "TF-IDF (1-2 grams) + logistic regression", f"{100 * acc:.2f}", "-",
                 f"{time.perf_counter() - t:.0f}"])
    backbone, tok = load_backbone(minilm_dir())
    r = finetune_classifier(backbone, tok, train, test, out / "sms_minilm",
                            FinetuneConfig(epochs=1, lr=5e-5, batch_size=16, max_minutes=minutes), max_len=64)
    rows.append(["SMS spam", "MiniLM-L6 fine-tuned, mean pooling", f"{100 * r.report.accuracy:.2f}",
                 f"{r.report.macro_f1:.4f}", f"{r.train_seconds:.0f}"])
    # a GPT with the quickstart preset's shape, no pretraining, BPE trained on the training texts
    torch.manual_seed(0)
    bpe = ByteLevelBPE.train("\n".join(e.text for e in train), vocab_size=2000)
    gpt = GPT(GPTConfig(vocab_size=bpe.vocab_size, context_length=64, d_model=128, n_layers=4, n_heads=4))
    r = finetune_classifier(gpt, bpe, train, test, out / "sms_gpt",
                            FinetuneConfig(epochs=3, lr=1e-3, batch_size=32, max_minutes=minutes / 2), max_len=64)
    rows.append(["SMS spam", "GPT (quickstart shape, from scratch), last-token head",
                 f"{100 * r.report.accuracy:.2f}", f"{r.report.macro_f1:.4f}", f"{r.train_seconds:.0f}"])
    uci = [e for f in sorted(UCI.glob("*_labelled.txt")) for e in read_text_labels(f, "0", "1", header=False)]
    train, test = split_examples(uci, 0.2, seed=0)
    rows.append(["UCI sentiment", "TF-IDF (1-2 grams) + logistic regression", f"{100 * _tfidf_lr(train, test):.2f}",
                 "-", "-"])
    backbone, tok = load_backbone(minilm_dir())
    r = finetune_classifier(backbone, tok, train, test, out / "uci_minilm",
                            FinetuneConfig(epochs=2, lr=5e-5, batch_size=16, max_minutes=minutes / 2), max_len=64)
    rows.append(["UCI sentiment", "MiniLM-L6 fine-tuned, mean pooling", f"{100 * r.report.accuracy:.2f}",
                 f"{r.report.macro_f1:.4f}", f"{r.train_seconds:.0f}"])
    return rows


def _ner_rows(out: Path, minutes: float) -> list[Row]:
    from lmforge.evaluate.seqeval_like import entity_report
    from lmforge.tasks.ner import finetune_ner, spacy_tags

    wnut = SHARED / "wnut17"
    train, test = read_conll(wnut / "wnut17train.conll"), read_conll(wnut / "emerging.test.annotated")
    t = time.perf_counter()
    spacy = entity_report([s.tags for s in test], spacy_tags([s.tokens for s in test]))
    rows = [["WNUT-17 test", "spaCy en_core_web_sm (types mapped)", f"{100 * spacy.precision:.2f}",
             f"{100 * spacy.recall:.2f}", f"{100 * spacy.f1:.2f}", f"{time.perf_counter() - t:.0f}"]]
    backbone, tok = load_backbone(minilm_dir())
    r = finetune_ner(backbone, tok, train, test, out / "ner_minilm",
                     FinetuneConfig(epochs=3, lr=1e-4, batch_size=16, max_minutes=minutes))
    rows.append(["WNUT-17 test", "MiniLM-L6 fine-tuned, token classification", f"{100 * r.scores.precision:.2f}",
                 f"{100 * r.scores.recall:.2f}", f"{100 * r.scores.f1:.2f}", f"{r.train_seconds:.0f}"])
    return rows


def _qa_rows(out: Path, minutes: float, n_eval: int) -> list[Row]:
    from lmforge.tasks.qa import finetune_qa

    examples = read_squad(SHARED / "squad_v11" / "squad_v11_dev_part1.json")
    train, test = split_squad_by_article(examples, 4)
    backbone, tok = load_backbone(minilm_dir())
    r = finetune_qa(backbone, tok, train, test[:n_eval], out / "qa_minilm",
                    FinetuneConfig(epochs=1, lr=1e-4, batch_size=16, max_minutes=minutes), max_len=192, stride=64)
    return [["SQuAD v1.1 (dev half: 20 articles train, 4 held out)",
             f"MiniLM-L6, {r.steps} steps x 16 windows", f"{r.exact_match:.2f}", f"{r.f1:.2f}",
             f"{r.n_eval}", f"{r.train_seconds:.0f}"]]


def _translate_rows(out: Path, minutes: float, with_gru: bool = True) -> list[Row]:
    from lmforge.data.translation import DataConfig
    from lmforge.models.seq2seq import Seq2SeqConfig
    from lmforge.models.t5 import T5Config
    from lmforge.recipes.translate_train import train_translator
    from lmforge.tasks.translate import finetune_translation
    from lmforge.train.trainer import TrainConfig

    data = DataConfig(str(SHARED / "eng_fra" / "eng-fra_first20k_train.txt"), batch_size=64)
    t5 = T5Config(d_model=256, d_head=32, n_heads=8, d_mlp=1024, n_layers=3, dropout=0.1, context_length=64)
    r = finetune_translation(data, t5, out / "t5", FinetuneConfig(epochs=30, lr=1e-3, batch_size=64,
                                                                 max_minutes=minutes, weight_decay=0.1))
    rows = [["eng-fra test (shared split)", f"Transformer enc-dec (T5 blocks, {r.parameters / 1e6:.1f}M params)",
             f"{r.bleu:.2f}", f"{r.steps}", f"{r.train_seconds:.0f}"]]
    if not with_gru:
        return rows
    gru = Seq2SeqConfig()
    translator, result, split = train_translator(
        data, gru, TrainConfig(max_steps=100_000, lr=1e-3, min_lr=1e-4, warmup_steps=50, eval_interval=10**9,
                               checkpoint_interval=10**9, max_minutes=minutes), out / "gru")
    params = sum(p.numel() for p in translator.model.parameters())
    rows.append(["eng-fra test (shared split)", f"GRU seq2seq + attention ({params / 1e6:.1f}M params)",
                 f"{translator.bleu(split.test).cased:.2f}", f"{result.steps}", f"{result.elapsed_s:.0f}"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="classify,ner,qa,translate",
                        help="comma-separated subset; 't5' is the translation Transformer without the GRU row")
    parser.add_argument("--minutes", type=float, default=2.5, help="time budget per main fine-tune")
    parser.add_argument("--qa-eval", type=int, default=600, help="held-out SQuAD questions to score")
    args = parser.parse_args()
    only = set(args.only.split(","))
    torch.manual_seed(0)
    print(machine_summary())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; budget {args.minutes} min per fine-tune\n")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        if "classify" in only:
            print("### Sequence classification (test accuracy, seeded stratified 80/20 split)\n")
            print(markdown_table(["data", "model", "accuracy %", "macro-F1", "train s"],
                                 _classify_rows(out, args.minutes)) + "\n")
        if "ner" in only:
            print("### NER, WNUT-17 test (entity-level, seqeval rules)\n")
            print(markdown_table(["data", "model", "precision %", "recall %", "F1 %", "train s"],
                                 _ner_rows(out, args.minutes)) + "\n")
        if "qa" in only:
            print("### Extractive QA, SQuAD v1.1 (official EM/F1)\n")
            print(markdown_table(["data", "model", "EM", "F1", "questions", "train s"],
                                 _qa_rows(out, args.minutes, args.qa_eval)) + "\n")
        if "translate" in only or "t5" in only:
            print("### Translation eng->fra (sacreBLEU, all references of a source sentence)\n")
            print(markdown_table(["data", "model", "BLEU", "steps", "train s"],
                                 _translate_rows(out, args.minutes, with_gru="translate" in only)) + "\n")


if __name__ == "__main__":
    main()
