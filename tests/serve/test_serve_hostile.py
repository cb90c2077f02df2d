"""Malformed and hostile requests: never a 5xx, always an OpenAI error object, and the server keeps serving."""

import json

import httpx
import pytest

CHAT, COMPLETIONS, EMBEDDINGS = "/v1/chat/completions", "/v1/completions", "/v1/embeddings"
OK_MESSAGES = [{"role": "user", "content": "hi"}]


def chat(**fields):
    return {"model": "tiny-chat", "messages": OK_MESSAGES, **fields}


def completion(**fields):
    return {"model": "tiny-chat", "prompt": "hi", **fields}


def embedding(**fields):
    return {"model": "tiny-chat", "input": "hi", **fields}


def without(body, key):
    return {k: v for k, v in body.items() if k != key}


BAD_JSON = [b"", b"{", b"null", b"[]", b"123", b'"text"', b'{"model": }', b"\xff\xfe\x00", b"{'model': 'x'}",
            b"[" * 5000 + b"]" * 5000, b'{"model": "tiny-chat", "messages": [' + b"{}," * 10 + b"]}"]
BAD_CHAT = [
    without(chat(), "model"), without(chat(), "messages"), chat(model=7), chat(model=None), chat(model="gpt-4"),
    chat(messages="hi"), chat(messages=[]), chat(messages=[1]), chat(messages=[{}]), chat(messages=[{"role": "x"}]),
    chat(messages=[{"role": "robot", "content": "x"}]), chat(messages=[{"role": "tool", "content": "x"}]),
    chat(messages=[{"role": "user"}]), chat(messages=[{"role": "user", "content": 5}]),
    chat(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x"}}]}]),
    chat(messages=[{"role": "user", "content": [{"type": "text"}]}]),
    chat(messages=[{"role": "user", "content": "x" * 5000}]),
    chat(max_tokens="10"), chat(max_tokens=-1), chat(max_tokens=0), chat(max_tokens=10**12), chat(max_tokens=1e30),
    chat(max_tokens=100), chat(max_tokens=True), chat(max_completion_tokens=10**9), chat(temperature="hot"),
    chat(temperature=-1), chat(temperature=5), chat(temperature=float("nan")), chat(top_p=0), chat(top_p=1.5),
    chat(n=5), chat(n=0), chat(n=2.5, stream=True), chat(use_beam_search=True, stream=True), chat(min_p=2),
    chat(stop=["a", "b", "c", "d", "e"]), chat(stop=""), chat(stop=[1]), chat(stop={"a": 1}),
    chat(seed="x"), chat(seed=2**70), chat(seed=1.5), chat(stream="yes"), chat(stream_options={"include_usage": 1}),
    chat(stream_options={"include_usage": True}), chat(logprobs="yes"), chat(top_logprobs=5), chat(top_logprobs=99),
    chat(tools=[{"type": "function", "function": {"nom": "f"}}]), chat(tool_choice="required"),
    chat(response_format={"type": "json_object"}), chat(presence_penalty=3), chat(frequency_penalty=3),
    chat(logit_bias={"5": 100}),
]
BAD_COMPLETIONS = [
    without(completion(), "prompt"), completion(prompt=""), completion(prompt=[]), completion(prompt=[[1], [2]]),
    completion(prompt=["a", "b"]), completion(prompt=[-1]), completion(prompt=[999_999]), completion(prompt=None),
    completion(prompt={"text": "x"}), completion(prompt=[1, "a"]), completion(echo=True), completion(suffix="end"),
    completion(best_of=3), completion(logprobs=6), completion(logprobs=True), completion(max_tokens=200),
    completion(prompt="x" * 200), completion(max_tokens="many"), completion(model="davinci"),
]
BAD_EMBEDDINGS = [
    embedding(input=""), embedding(input=[]), embedding(input=[""]), embedding(input=[[]]),
    embedding(input=["x"] * 2049), embedding(input=[[-1]]), embedding(input=[[10**9]]), embedding(input="x" * 500),
    embedding(input=None), embedding(input=5), embedding(encoding_format="hex"), embedding(dimensions=7),
    embedding(dimensions=0), without(embedding(), "input"), embedding(model="text-embedding-3-small"),
]


def cases(api_key):
    auth = {"Authorization": f"Bearer {api_key}"}
    out = []
    for path in (CHAT, COMPLETIONS, EMBEDDINGS, "/v1/models"):  # missing / wrong / malformed keys
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {api_key}"},
                        {"Authorization": "Bearer"}, {"Authorization": f"Bearer {api_key}x"}):
            out.append(("POST" if path != "/v1/models" else "GET", path, headers, json.dumps(chat()).encode()))
    for path in (CHAT, COMPLETIONS, EMBEDDINGS):
        out += [("POST", path, auth, raw) for raw in BAD_JSON]
        out.append(("POST", path, auth, b'{"model": "tiny-chat", "pad": "' + b"x" * 30_000 + b'"}'))  # > 20 kB
    out += [("POST", CHAT, auth, json.dumps(b).encode()) for b in BAD_CHAT]
    out += [("POST", COMPLETIONS, auth, json.dumps(b).encode()) for b in BAD_COMPLETIONS]
    out += [("POST", EMBEDDINGS, auth, json.dumps(b).encode()) for b in BAD_EMBEDDINGS]
    out += [("GET", CHAT, auth, b""), ("DELETE", "/v1/models", auth, b""), ("POST", "/v1/nothing", auth, b"{}"),
            ("GET", "/admin", {}, b""), ("GET", "/static/../../../etc/passwd", {}, b""),
            ("GET", "/static/nope.js", {}, b""), ("GET", "/v1/models/gpt-4", auth, b""),
            ("PUT", "/health", {}, b"{}")]
    return out


def test_hostile_requests_get_openai_errors_and_never_5xx(keyed_url, api_key):
    all_cases = cases(api_key)
    assert len(all_cases) >= 100
    statuses = {}
    with httpx.Client(base_url=keyed_url, timeout=60) as client:
        for method, path, headers, body in all_cases:
            r = client.request(method, path, headers={"Content-Type": "application/json", **headers}, content=body)
            where = f"{method} {path} {body[:120]!r} -> {r.status_code} {r.text[:200]}"
            assert 400 <= r.status_code < 500, where
            error = r.json()["error"]
            assert isinstance(error["message"], str) and len(error["message"]) > 5, where
            assert isinstance(error["type"], str) and {"param", "code"} <= error.keys(), where
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        assert {400, 401, 404, 405, 413} <= statuses.keys(), statuses
        ok = client.post(CHAT, headers={"Authorization": f"Bearer {api_key}"}, json=chat(max_tokens=3))
        assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["role"] == "assistant"
        metrics = client.get("/metrics").text
        assert 'status="500"' not in metrics


@pytest.mark.parametrize("body, param", [
    (chat(temperature=5), "temperature"), (chat(messages=[{"role": "user", "content": 5}]), "messages.0.content"),
    (chat(max_tokens=10**12), "max_tokens"), (completion(prompt=[999_999]), "prompt"),
])
def test_errors_name_the_offending_parameter(keyed_url, api_key, body, param):
    path = COMPLETIONS if "prompt" in body else CHAT
    r = httpx.post(keyed_url + path, headers={"Authorization": f"Bearer {api_key}"}, json=body)
    assert r.status_code == 400 and r.json()["error"]["param"] == param, r.text


def test_an_oversized_body_is_refused_with_413_without_a_content_length(keyed_url, api_key):
    def chunks():
        for _ in range(50):
            yield b"x" * 1000

    r = httpx.post(keyed_url + CHAT, headers={"Authorization": f"Bearer {api_key}"}, content=chunks())
    assert r.status_code == 413 and "20000 bytes" in r.json()["error"]["message"]
