"""Continuous batching in the server: concurrent requests are rows of one decoding step, each row's
reply equals the request served alone, one failing row does not fail the others, /metrics shows it."""

import asyncio
import json
import time

import httpx
import pytest

from lmforge.infer import batch as batch_module
from lmforge.infer.beam import BeamConfig, beam_search
from lmforge.infer.chat import generate_text
from lmforge.infer.sampling import SamplingConfig
from lmforge.serve.app import ServerConfig, create_app
from lmforge.serve.backend import ModelBackend

QUESTIONS = ["What is 2+2?", "Tell me a story", "hi", "Name a colour"]


@pytest.fixture(scope="module")
def batched(model_dir, serve):
    app = create_app(ModelBackend(model_dir), ServerConfig(max_concurrency=4, max_tokens=64))
    server = app.state.server
    engine = server.batcher.engine
    sizes = []
    real_step = engine.step

    def recording_step():  # the batch sizes the worker's steps actually ran with
        sizes.append(len(engine.rows))
        return real_step()

    engine.step = recording_step
    with serve(app) as url:
        yield url, server, sizes


def chat(question, **extra):
    return {"model": "tiny-chat", "messages": [{"role": "user", "content": question}], "max_tokens": 30,
            "temperature": 0, **extra}


def alone(backend, question):
    config = SamplingConfig(max_new_tokens=30, temperature=0, stop_tokens=backend.sampling_stops())
    prompt = backend.chat_prompt([{"role": "user", "content": question}])
    return "".join(p.text for p in generate_text(backend.engine, backend.tokenizer, prompt, config)[1])


async def _post_all(url, bodies):
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        return await asyncio.gather(*(client.post("/v1/chat/completions", json=b) for b in bodies))


def test_concurrent_requests_are_rows_of_one_batch_and_each_equals_its_request_alone(batched):
    url, server, sizes = batched
    sizes.clear()
    responses = asyncio.run(_post_all(url, [chat(q) for q in QUESTIONS]))
    assert [r.status_code for r in responses] == [200] * 4
    metrics = httpx.get(f"{url}/metrics").text  # now: the tokens/s gauge averages over the last seconds only
    texts = [r.json()["choices"][0]["message"]["content"] for r in responses]
    assert texts == [alone(server.backend, q) for q in QUESTIONS]
    # the requests overlapped in batched steps (>= 2, not 4: on a loaded machine a reply may end before the
    # last request is prefilled)
    assert max(sizes) >= 2
    assert server.batcher.engine.free_slots == 4  # every slot came back
    for name in ("lmforge_batch_size", "lmforge_queue_depth", "lmforge_kv_cache_occupancy",
                 "lmforge_kv_cache_bytes", "lmforge_tokens_per_second"):
        assert f"\n{name} " in metrics, name
    rate = next(line for line in metrics.splitlines() if line.startswith("lmforge_tokens_per_second "))
    assert float(rate.split()[1]) > 0


def test_a_request_closed_before_its_first_token_frees_its_row(batched):
    """A request joins the batch when the worker starts its job; a client that leaves before the job's first
    turn has its text stream closed unstarted, and that must still give the row back."""
    _, server, _ = batched
    engine = server.batcher.engine
    config = SamplingConfig(max_new_tokens=5, temperature=0)
    _, pieces = server.backend.generate(server.backend.chat_prompt([{"role": "user", "content": "hi"}]), config, [],
                                        server.batcher)
    assert engine.free_slots == 3
    pieces.close()
    assert engine.free_slots == 4 and not engine.rows


def test_a_client_leaving_a_streamed_n_choices_request_frees_every_row(batched, monkeypatch):
    url, server, sizes = batched
    engine = server.batcher.engine
    real_step = engine.step

    def slow_step():  # so that the 60 tokens cannot all be generated before the client leaves
        time.sleep(0.05)
        return real_step()

    monkeypatch.setattr(engine, "step", slow_step)
    body = {"model": "tiny-chat", "prompt": "Once", "max_tokens": 60, "n": 2, "temperature": 1.0, "stream": True,
            "stop": [], "seed": 1}
    with httpx.stream("POST", f"{url}/v1/completions", json=body, timeout=60) as r:
        next(line for line in r.iter_lines() if line.startswith("data: "))  # generating: both rows hold a slot
        assert engine.free_slots == 2
    sizes.clear()
    deadline = time.monotonic() + 10
    while engine.free_slots < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert engine.free_slots == 4 and not engine.rows
    assert len(sizes) < 10  # stopped within a few steps of the disconnect, not after 60 tokens


def test_one_failing_row_gets_its_error_and_the_other_rows_go_on(batched, monkeypatch):
    url, server, _ = batched
    real = batch_module.choose_tokens

    def faulty(logits, config, generator):  # an injected fault in one request's row
        if config.seed == 666:
            raise RuntimeError("injected fault")
        return real(logits, config, generator)

    monkeypatch.setattr(batch_module, "choose_tokens", faulty)
    bodies = [chat(QUESTIONS[0]), chat(QUESTIONS[1], temperature=1.0, seed=666), chat(QUESTIONS[2])]
    good, bad, other = asyncio.run(_post_all(url, bodies))
    assert bad.status_code == 500 and bad.json()["error"]["type"] == "server_error"
    assert [good.status_code, other.status_code] == [200, 200]
    assert good.json()["choices"][0]["message"]["content"] == alone(server.backend, QUESTIONS[0])
    assert other.json()["choices"][0]["message"]["content"] == alone(server.backend, QUESTIONS[2])
    assert server.batcher.engine.free_slots == 4


def test_n_choices_are_rows_of_one_batch(batched):
    url, server, sizes = batched
    sizes.clear()
    greedy = httpx.post(f"{url}/v1/chat/completions", json=chat(QUESTIONS[1], n=3), timeout=120).json()
    assert [c["index"] for c in greedy["choices"]] == [0, 1, 2]
    assert {c["message"]["content"] for c in greedy["choices"]} == {alone(server.backend, QUESTIONS[1])}
    assert max(sizes) == 3
    sampled = httpx.post(f"{url}/v1/completions", json={"model": "tiny-chat", "prompt": "Once", "max_tokens": 12,
                                                          "n": 3, "seed": 5}, timeout=120).json()
    texts = [c["text"] for c in sampled["choices"]]
    assert len(set(texts)) > 1  # seeds 5, 6, 7: different samples
    assert sampled["usage"]["prompt_tokens"] == 4 and sampled["usage"]["completion_tokens"] <= 36


def stream_events(url, path, body):
    """The JSON events of a streamed request (the final ``[DONE]`` checked and dropped)."""
    with httpx.stream("POST", f"{url}{path}", json=body, timeout=120) as r:
        assert r.status_code == 200
        lines = [line.removeprefix("data: ") for line in r.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


def test_n_choices_stream_as_interleaved_chunks_naming_their_index(batched):
    url, server, sizes = batched
    sizes.clear()
    events = stream_events(url, "/v1/chat/completions", chat(QUESTIONS[1], n=2, stream=True,
                                                             stream_options={"include_usage": True}))
    texts, finishes, roles = ["", ""], [[], []], [0, 0]
    for event in events[:-1]:
        (choice,) = event["choices"]
        texts[choice["index"]] += choice["delta"].get("content") or ""
        roles[choice["index"]] += choice["delta"].get("role") == "assistant"
        if choice["finish_reason"]:
            finishes[choice["index"]].append(choice["finish_reason"])
    assert texts == [alone(server.backend, QUESTIONS[1])] * 2 and roles == [1, 1]
    assert all(len(f) == 1 for f in finishes) and max(sizes) == 2  # one finish each; rows of one batch
    whole = httpx.post(f"{url}/v1/chat/completions", json=chat(QUESTIONS[1], n=2), timeout=120).json()
    assert events[-1]["choices"] == [] and events[-1]["usage"] == whole["usage"]  # both choices counted
    indices = [e["choices"][0]["index"] for e in events[:-1] if e["choices"][0].get("delta", {}).get("content")]
    assert indices.index(1) < len(indices) - indices[::-1].index(0) - 1  # interleaved, not one after the other
    body = {"model": "tiny-chat", "prompt": "Once", "max_tokens": 12, "n": 3, "seed": 5}
    whole = httpx.post(f"{url}/v1/completions", json=body, timeout=120).json()
    pieces = ["", "", ""]
    for event in stream_events(url, "/v1/completions", {**body, "stream": True}):
        pieces[event["choices"][0]["index"]] += event["choices"][0]["text"]
    assert pieces == [c["text"] for c in whole["choices"]]  # the same seeded samples, streamed


def test_beam_search_and_penalties_are_request_fields(batched):
    url, server, _ = batched
    backend = server.backend
    body = {**chat(QUESTIONS[0]), "use_beam_search": True, "beam_width": 3, "length_penalty": 0.5}
    reply = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=120).json()
    prompt = backend.chat_prompt([{"role": "user", "content": QUESTIONS[0]}])
    config = BeamConfig(3, 30, 0.5, True, backend.sampling_stops())
    expected = backend.tokenizer.decode(beam_search(server.batcher.engine, prompt, config))
    assert reply["choices"][0]["message"]["content"] == expected
    for conflict in ({"stream": True}, {"n": 2}, {"logprobs": True}, {"beam_width": 5}):
        r = httpx.post(f"{url}/v1/chat/completions", json={**body, **conflict}, timeout=120)
        assert r.status_code == 400 and r.json()["error"]["param"] in conflict, r.text
    plain = httpx.post(f"{url}/v1/chat/completions", json=chat(QUESTIONS[3]), timeout=120).json()
    penalized = httpx.post(f"{url}/v1/chat/completions", json=chat(QUESTIONS[3], frequency_penalty=1.5,
                                                                   repetition_penalty=1.5, min_p=0.05)).json()
    assert penalized["choices"][0]["message"]["content"] != plain["choices"][0]["message"]["content"]
