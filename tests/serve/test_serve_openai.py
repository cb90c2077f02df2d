"""The official ``openai`` client against lmforge serve on 127.0.0.1."""

import base64

import numpy as np
import openai
import pytest


@pytest.fixture(scope="module")
def client(server_url):
    return openai.OpenAI(api_key="unused", base_url=f"{server_url}/v1", max_retries=0, timeout=60)


def test_list_models(client, backend):
    models = client.models.list().data
    assert [m.id for m in models] == ["tiny-chat"] and models[0].owned_by == "lmforge"
    assert client.models.retrieve("tiny-chat").id == "tiny-chat"


def test_chat_is_reproducible_with_a_seed_and_counts_usage(client, backend):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    first = client.chat.completions.create(model="tiny-chat", messages=messages, max_tokens=12, seed=3)
    again = client.chat.completions.create(model="tiny-chat", messages=messages, max_tokens=12, seed=3)
    assert first.choices[0].message.content == again.choices[0].message.content
    assert first.choices[0].message.role == "assistant" and first.object == "chat.completion"
    prompt = backend.chat_prompt(messages)
    assert first.usage.prompt_tokens == len(prompt)
    assert first.usage.completion_tokens <= 12 and first.choices[0].finish_reason in ("stop", "length")
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens


def test_greedy_chat_equals_the_engine_directly(client, backend):
    from lmforge.infer.chat import generate_text
    from lmforge.infer.sampling import SamplingConfig

    messages = [{"role": "user", "content": "What is 2+2?"}]
    reply = client.chat.completions.create(model="tiny-chat", messages=messages, max_tokens=20, temperature=0)
    config = SamplingConfig(max_new_tokens=20, temperature=0, stop_tokens=backend.sampling_stops())
    _, pieces = generate_text(backend.engine, backend.tokenizer, backend.chat_prompt(messages), config)
    assert reply.choices[0].message.content == "".join(p.text for p in pieces)


def test_chat_streaming_sends_chunks_finish_reason_and_usage(client):
    kwargs = dict(model="tiny-chat", messages=[{"role": "user", "content": "Tell me a story"}], max_tokens=10,
                  temperature=0)
    chunks = list(client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kwargs))
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finish) == 1
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == (10 if finish == ["length"] else
                                                                                 chunks[-1].usage.completion_tokens)
    assert all(c.usage is None for c in chunks[:-1])
    assert text == client.chat.completions.create(**kwargs).choices[0].message.content


def test_n_choices_stream_through_the_client_as_the_whole_reply_does(client):
    kwargs = dict(model="tiny-chat", messages=[{"role": "user", "content": "Tell me a story"}], max_tokens=10,
                  temperature=0.9, seed=11, n=3, logprobs=True)
    texts, logprob_counts = ["", "", ""], [0, 0, 0]
    for c in client.chat.completions.create(stream=True, **kwargs):
        choice = c.choices[0]
        texts[choice.index] += choice.delta.content or ""
        logprob_counts[choice.index] += len(choice.logprobs.content) if choice.logprobs else 0
    whole = client.chat.completions.create(**kwargs)
    assert texts == [c.message.content for c in whole.choices]  # seeds 11, 12, 13 either way
    assert logprob_counts == [len(c.logprobs.content) for c in whole.choices]


def test_stream_without_include_usage_has_no_usage_chunk(client):
    chunks = list(client.chat.completions.create(model="tiny-chat", messages=[{"role": "user", "content": "x"}],
                                                 max_tokens=3, stream=True))
    assert all(c.choices for c in chunks)


def test_chat_logprobs_with_alternatives(client):
    r = client.chat.completions.create(model="tiny-chat", messages=[{"role": "user", "content": "Hi"}], max_tokens=6,
                                       logprobs=True, top_logprobs=3, temperature=0)
    entries = r.choices[0].logprobs.content
    assert len(entries) == r.usage.completion_tokens and all(e.logprob <= 0 for e in entries)
    assert "".join(e.token for e in entries) == r.choices[0].message.content
    for e in entries:  # greedy: the chosen token is the most likely alternative
        assert len(e.top_logprobs) == 3 and e.top_logprobs[0].token == e.token
        assert e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob >= e.top_logprobs[2].logprob


def test_completion_logprobs_legacy_layout(client):
    r = client.completions.create(model="tiny-chat", prompt="Hello", max_tokens=5, logprobs=2, temperature=0)
    lp = r.choices[0].logprobs
    assert "".join(lp.tokens) == r.choices[0].text and lp.text_offset == [0, 1, 2, 3, 4]
    assert all(len(alts) == 2 and max(alts.values()) == chosen for alts, chosen in zip(lp.top_logprobs,
                                                                                        lp.token_logprobs, strict=True))


def test_stop_strings_end_the_reply_before_the_stop_text(client):
    kwargs = dict(model="tiny-chat", prompt="Once upon a time", max_tokens=40, temperature=0)
    free = client.completions.create(**kwargs).choices[0].text
    stop = free[5:7]
    stopped = client.completions.create(stop=[stop], **kwargs).choices[0]
    assert stopped.text == free[: free.index(stop)] and stopped.finish_reason == "stop"
    streamed = client.completions.create(stop=stop, stream=True, **kwargs)
    assert "".join(c.choices[0].text for c in streamed) == stopped.text


def test_completions_with_text_and_token_prompts(client, backend):
    ids = backend.tokenizer.encode("Hello")
    by_text = client.completions.create(model="tiny-chat", prompt="Hello", max_tokens=8, temperature=0)
    by_ids = client.completions.create(model="tiny-chat", prompt=ids, max_tokens=8, temperature=0)
    assert by_text.choices[0].text == by_ids.choices[0].text and by_text.object == "text_completion"
    assert by_text.usage.prompt_tokens == len(ids)
    default = client.completions.create(model="tiny-chat", prompt="Hello", temperature=0)
    assert default.usage.completion_tokens <= 16  # OpenAI's default max_tokens for completions


def test_embeddings_float_and_base64_default(client, backend):
    texts = ["hello world", "goodbye"]
    default = client.embeddings.create(model="tiny-chat", input=texts)  # the client asks for base64
    floats = client.embeddings.create(model="tiny-chat", input=texts, encoding_format="float")
    width = backend.model.config.d_model
    for a, b in zip(default.data, floats.data, strict=True):
        assert len(a.embedding) == len(b.embedding) == width
        np.testing.assert_allclose(a.embedding, b.embedding, rtol=1e-6)
    assert default.usage.prompt_tokens == sum(len(backend.tokenizer.encode(t)) for t in texts)
    expected = backend.embed([backend.tokenizer.encode("hello world")])[0]
    np.testing.assert_allclose(floats.data[0].embedding, expected, rtol=1e-5, atol=1e-6)
    assert floats.data[0].embedding != floats.data[1].embedding


def test_embeddings_base64_is_little_endian_float32(server_url):
    import httpx

    r = httpx.post(f"{server_url}/v1/embeddings", json={"model": "tiny-chat", "input": "hi",
                                                        "encoding_format": "base64"}).json()
    vector = np.frombuffer(base64.b64decode(r["data"][0]["embedding"]), dtype="<f4")
    assert vector.shape == (32,) and np.isfinite(vector).all()


def test_api_key_is_required_when_configured(keyed_url, api_key):
    bad = openai.OpenAI(api_key="wrong", base_url=f"{keyed_url}/v1", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as e:
        bad.models.list()
    assert e.value.status_code == 401 and "invalid API key" in e.value.body["message"]
    good = openai.OpenAI(api_key=api_key, base_url=f"{keyed_url}/v1", max_retries=0)
    assert good.models.list().data[0].id == "tiny-chat"


def test_errors_reach_the_client_as_openai_errors(client):
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "x"}])
    assert e.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="tiny-chat", messages=[{"role": "user", "content": "x"}], n=5)
    assert e.value.body["param"] == "n"  # more rows than the server's batch (--max-concurrency 4) holds
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="tiny-chat", messages=[{"role": "user", "content": "x" * 200}])
    assert e.value.body["code"] == "context_length_exceeded"
