"""/v1/embeddings with many inputs: up to OpenAI's 2,048 per request, batched, and a clear message beyond."""

import httpx
import numpy as np
import openai
import pytest

from lmforge.serve.schemas import MAX_EMBEDDING_INPUTS


@pytest.fixture(scope="module")
def client(server_url):
    return openai.OpenAI(api_key="x", base_url=f"{server_url}/v1", max_retries=0, timeout=120)


def test_up_to_2048_inputs_come_back_in_order_and_match_one_at_a_time(client, backend):
    texts = [f"text number {i} " + "ab" * (i % 7) for i in range(MAX_EMBEDDING_INPUTS)]
    data = client.embeddings.create(model="tiny-chat", input=texts, encoding_format="float").data
    assert [d.index for d in data] == list(range(MAX_EMBEDDING_INPUTS))
    for i in (0, 5, 1234, MAX_EMBEDDING_INPUTS - 1):  # padded, length-sorted batches change nothing
        alone = backend.embed([backend.encode_for_embedding(texts[i])])[0]
        np.testing.assert_allclose(data[i].embedding, alone, atol=2e-5)
        assert abs(np.linalg.norm(data[i].embedding) - 1) < 1e-5


def test_more_than_2048_inputs_get_a_message_naming_the_limit(server_url):
    r = httpx.post(f"{server_url}/v1/embeddings", json={"model": "tiny-chat", "input": ["hi"] * 2049})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["param"] == "input" and "at most 2,048 inputs" in error["message"] and "2049" in error["message"]
