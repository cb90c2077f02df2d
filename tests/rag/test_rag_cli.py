"""``lmforge rag index/search/ask``: the commands users run, their JSON output, and bad input as one line + exit 2."""

import json
import string
from pathlib import Path

import numpy as np
import pytest
import torch

from lmforge.cli.main import run
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.registry import save_model
from lmforge.rag.answer import resolve_citations
from lmforge.rag.chunking import Chunk
from lmforge.rag.retriever import Hit
from lmforge.tokenizers import train_tokenizer


@pytest.fixture(scope="module")
def built(tmp_path_factory, encoder):
    """A folder of SQuAD paragraphs as .txt files, indexed once into an embedded store."""
    root = tmp_path_factory.mktemp("rag")
    docs = json.loads((Path(__file__).parents[1] / "data" / "squad_v11" /
                       "squad_v11_dev_part1_2articles_6paras.json").read_text())["data"]
    (root / "docs").mkdir()
    for article in docs:
        text = "\n\n".join(p["context"] for p in article["paragraphs"])
        (root / "docs" / f"{article['title']}.txt").write_text(text)
    (root / "docs" / "broken.txt").write_bytes(b"\xff\xfe bad bytes")
    assert run(["rag", "index", str(root / "docs"), "--store", str(root / "store")]) == 0
    return root


def test_index_warns_about_bad_files_and_search_prints_json_lines_in_order(built, capsys, tmp_path):
    capsys.readouterr()
    assert run(["rag", "index", str(built / "docs"), "--store", str(built / "store")]) == 0  # again: all unchanged
    out = capsys.readouterr()
    assert "broken.txt" in out.err and "0 documents (0 chunks), 2 unchanged" in out.out
    queries = tmp_path / "q.txt"
    queries.write_text("Which team won Super Bowl 50?\nWhat is the largest city of Poland?\n")
    assert run(["rag", "search", "--queries", str(queries), "--store", str(built / "store"), "-k", "2",
                "--mode", "hybrid"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [x["query"] for x in lines] == queries.read_text().splitlines()
    assert lines[0]["hits"][0]["source"].endswith("Super_Bowl_50.txt")
    assert lines[1]["hits"][0]["source"].endswith("Warsaw.txt") and len(lines[1]["hits"]) == 2
    source = lines[0]["hits"][0]["source"]
    assert run(["rag", "search", "What is the largest city of Poland?", "--store", str(built / "store"), "--json",
                "--where", f"source={source}"]) == 0
    assert {h["source"] for h in json.loads(capsys.readouterr().out)["hits"]} == {source}
    hit = lines[1]["hits"][0]
    text = (built / "docs" / "Warsaw.txt").read_text()
    assert text[hit["start"]:hit["end"]] == hit["text"]


def _one_line_error(capsys, *args) -> str:
    status = run([str(a) for a in args])
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    return err


def test_bad_stores_are_one_line_errors(built, capsys, tmp_path):
    capsys.readouterr()
    assert "no store here" in _one_line_error(capsys, "rag", "search", "q", "--store", tmp_path / "none")
    assert "cannot reach Qdrant" in _one_line_error(capsys, "rag", "search", "q", "--qdrant-url", "http://127.0.0.1:9")
    other = tmp_path / "other"  # a store built by another encoder (a different window = other vectors)
    other.mkdir()
    meta = json.loads((built / "store" / "store.json").read_text())
    (other / "store.json").write_text(json.dumps({**meta, "count": 0, "encoder": "some-other-model:384:256:0"}))
    (other / f"chunks.{meta['generation']}.jsonl").write_text("")
    np.save(other / f"vectors.{meta['generation']}.npy", np.zeros((0, 384), dtype=np.float32))
    assert "built with the embedding model 'some-other-model'" in _one_line_error(
        capsys, "rag", "search", "q", "--store", other)


def test_ask_prints_the_answer_and_resolves_citations(built, capsys, tmp_path):
    corpus = string.printable + "".join(p.read_text() for p in (built / "docs").glob("[A-Z]*.txt"))
    tokenizer = train_tokenizer("char", corpus, special_tokens=("<|endoftext|>", "<|im_start|>",
                                                                         "<|im_end|>"))
    torch.manual_seed(0)
    save_model(GPT(GPTConfig(vocab_size=tokenizer.vocab_size, context_length=4096, d_model=16, n_layers=1,
                             n_heads=2)), tmp_path / "m")
    tokenizer.save(tmp_path / "m" / "tokenizer.json")
    capsys.readouterr()
    assert run(["rag", "ask", "Who won?", "--store", str(built / "store"), "--model", str(tmp_path / "m"),
                "--max-tokens", "8", "-k", "2"]) == 0
    assert capsys.readouterr().out.strip()  # a random model's words; what it cites is tested below
    hits = [Hit(Chunk(f"c{i}", "d", f"f{i}.txt", 10 * i, 10 * i + 5, "t"), 1.0) for i in range(2)]
    described = [c.describe() for c in resolve_citations("A [2], B [1][2], C [7].", hits)]
    assert described == ["[2] f1.txt:10-15", "[1] f0.txt:0-5", "[7] (no such source)"]


def test_delete_removes_a_files_chunks(built, capsys, tmp_path):
    import shutil
    store = tmp_path / "store"
    shutil.copytree(built / "store", store)
    capsys.readouterr()
    assert run(["rag", "delete", str(built / "docs" / "Warsaw.txt"), "--store", str(store)]) == 0
    assert capsys.readouterr().out.startswith("removed 1 documents")
    assert run(["rag", "search", "Super Bowl in Warsaw", "--store", str(store), "--json", "--mode", "bm25",
                "-k", "20"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert hits and all(not h["source"].endswith("Warsaw.txt") for h in hits)
