"""Answer quality of `lmforge rag ask` on SQuAD v1.1: EM/F1 with retrieval vs the same model closed-book.

    OMP_NUM_THREADS=1 python -m benchmarks.rag_answers [--questions 200] [--k 3] [--model DIR]

Every paragraph of the SQuAD dev part is indexed (913 documents, MiniLM + BM25 hybrid, as `rag index`
does); a seeded sample of questions is asked twice with greedy decoding: once through the RAG path
(`rag.answer.answer`: the top-k chunks numbered in the prompt, cite-as-[n] instructions — exactly what
`lmforge rag ask` runs) and once closed-book (the question alone, "answer briefly"). Answers are scored
with the official SQuAD v1.1 EM/F1 against the question's gold answers after removing the ``[n]``
citation marks. A 135M chat model writes sentences, not spans, so EM stays low by construction; F1
(token overlap) and "contains a gold answer" show whether the retrieved paragraph reached the answer.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from benchmarks._common import markdown_table
from benchmarks._machine import machine_summary
from lmforge.evaluate.squad import normalize_answer, squad_scores
from lmforge.infer.chat import chat_format_for, generate_text
from lmforge.infer.loading import load_for_generation
from lmforge.infer.sampling import SamplingConfig
from lmforge.rag import answer as cited
from lmforge.rag.documents import Document
from lmforge.rag.retriever import Retriever
from lmforge.rag.stores import EmbeddedStore
from lmforge.recipes.rag import default_generator_dir, load_encoder

SQUAD = Path(__file__).resolve().parents[1] / "tests" / "data" / "squad_v11" / "squad_v11_dev_part1.json"
CLOSED_BOOK = "Answer the question briefly, in a few words."
_CITATION = re.compile(r"\s*\[\d+\]")


def load(n_questions: int, seed: int) -> tuple[list[Document], list[tuple[str, str, list[str]]]]:
    """Paragraph documents and a seeded sample of (question, its paragraph's doc id, gold answers)."""
    docs, questions = [], []
    for article in json.loads(SQUAD.read_text(encoding="utf-8"))["data"]:
        for p, paragraph in enumerate(article["paragraphs"]):
            doc = Document(f"{article['title']}/{p}", article["title"], paragraph["context"])
            docs.append(doc)
            questions += [(qa["question"], doc.doc_id, [a["text"] for a in qa["answers"]]) for qa in paragraph["qas"]]
    return docs, random.Random(seed).sample(questions, n_questions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--k", type=int, default=3, help="retrieved paragraphs in the prompt")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--model", type=Path, default=None, help="chat model directory (default SmolLM2-135M-Instruct)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="append every answer as JSONL here")
    parser.add_argument("--rescore", type=Path, default=None, help="only print the table of an earlier --out file")
    args = parser.parse_args()
    if args.rescore:
        return rescore(args.rescore)
    print(machine_summary(), f"torch threads {torch.get_num_threads()}", flush=True)
    docs, questions = load(args.questions, args.seed)
    engine, tokenizer = load_for_generation(args.model or default_generator_dir())
    chat_format = chat_format_for(tokenizer, "auto", args.model or default_generator_dir())
    config = SamplingConfig(max_new_tokens=args.max_new_tokens, temperature=0.0)
    stop_config = replace(config, stop_tokens=config.stop_tokens | chat_format.stop_ids)
    answers: dict[str, list[str]] = {f"rag ask (top-{args.k} hybrid)": [], "closed-book": []}
    seconds = dict.fromkeys(answers, 0.0)
    retrieved = 0
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        retriever = Retriever(EmbeddedStore(Path(tmp)), load_encoder(), warn=print)
        retriever.index(docs, chunk_by="sentences", size=100_000)  # one chunk per paragraph
        rag_name, closed_name = answers
        for i, (question, doc_id, gold) in enumerate(questions):
            start = time.perf_counter()
            hits = retriever.search(question, args.k, "hybrid")
            rag = cited.answer(engine, tokenizer, chat_format, question, hits, config)
            seconds[rag_name] += time.perf_counter() - start
            retrieved += any(h.chunk.doc_id == doc_id for h in rag.sources)
            start = time.perf_counter()
            prompt = chat_format.render([{"role": "system", "content": CLOSED_BOOK},
                                         {"role": "user", "content": question}])
            _, pieces = generate_text(engine, tokenizer, prompt, stop_config, chat_format.stop_strings)
            closed = "".join(p.text for p in pieces).strip()  # the pieces are generated as they are read
            seconds[closed_name] += time.perf_counter() - start
            answers[rag_name].append(_CITATION.sub("", rag.text).strip())
            answers[closed_name].append(closed)
            records.append({"question": question, "gold": gold, "rag": answers[rag_name][-1],
                            "closed_book": answers[closed_name][-1],
                            "retrieved_gold_paragraph": any(h.chunk.doc_id == doc_id for h in rag.sources)})
            if args.out:  # as it goes, so a long run that is stopped still has its answers
                with open(args.out, "a", encoding="utf-8") as f:
                    f.write(json.dumps(records[-1]) + "\n")
            if (i + 1) % 20 == 0:
                gold = [g for _, _, g in questions[: i + 1]]
                f1 = {name: squad_scores(a, gold)["f1"] for name, a in answers.items()}
                print(f"{i + 1}/{len(questions)} questions; F1 so far: "
                      + ", ".join(f"{name} {v:.1f}" for name, v in f1.items()), flush=True)
    print(f"\n{len(questions)} questions (seed {args.seed}) from {len(docs)} paragraphs; the gold paragraph was "
          f"among the {args.k} retrieved for {100 * retrieved / len(questions):.1f} %\n")
    print(table(answers, [g for _, _, g in questions], {k: v / len(questions) for k, v in seconds.items()}))


def contains_gold(answer: str, gold: list[str]) -> bool:
    """The answer holds one gold span (both normalized as SQuAD does): the fair question for a chat model
    that answers in sentences, where exact match is 0 by construction."""
    return any(normalize_answer(g) in normalize_answer(answer) for g in gold)


def table(answers: dict[str, list[str]], gold: list[list[str]], seconds: dict[str, float] | None = None) -> str:
    rows = []
    for name, predicted in answers.items():
        s = squad_scores(predicted, gold)
        words = sum(len(a.split()) for a in predicted) / len(predicted)
        held = 100 * sum(contains_gold(a, g) for a, g in zip(predicted, gold, strict=True)) / len(gold)
        rows.append([name, f"{s['exact_match']:.1f}", f"{s['f1']:.1f}", f"{held:.1f}", f"{words:.1f}",
                     f"{seconds[name]:.2f}" if seconds else "—"])
    return markdown_table(["answers", "EM", "F1", "contains a gold answer (%)", "mean words", "s / question"], rows)


def rescore(path: Path) -> None:
    """The table again from a run's JSONL (``--out``), e.g. after a metric is added; no timings."""
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    answers = {"rag ask": [r["rag"] for r in records], "closed-book": [r["closed_book"] for r in records]}
    found = sum(r["retrieved_gold_paragraph"] for r in records)
    print(f"{len(records)} questions from {path}; gold paragraph retrieved for {100 * found / len(records):.1f} %\n")
    print(table(answers, [r["gold"] for r in records]))


if __name__ == "__main__":
    main()
