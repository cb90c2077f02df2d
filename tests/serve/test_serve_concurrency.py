"""The worker: concurrent requests interleave, a full queue answers 429, a gone client stops its generation."""

import asyncio
import threading
import time

import httpx
import pytest

from lmforge.serve.app import ServerConfig, create_app
from lmforge.serve.backend import ModelBackend
from lmforge.serve.worker import QueueFull, Worker


def test_worker_interleaves_jobs_round_robin_and_bounds_the_queue():
    async def scenario():
        worker = Worker(max_active=2, max_waiting=1)
        order, gate = [], threading.Event()

        def steps(name):
            def run():
                gate.wait(5)  # hold the worker until every job is queued
                for i in range(3):
                    order.append(name)
                    yield f"{name}{i}"
            return run

        a, b, c = (worker.submit(steps(n)) for n in "abc")
        with pytest.raises(QueueFull, match="busy"):
            worker.submit(steps("d"))
        worker.start()
        gate.set()
        results = await asyncio.gather(a.collect(), b.collect(), c.collect())
        worker.stop()
        return order, results

    order, results = asyncio.run(scenario())
    assert results == [["a0", "a1", "a2"], ["b0", "b1", "b2"], ["c0", "c1", "c2"]]
    assert order[:4] == ["a", "b", "a", "b"]  # a and b alternate; c waits for a free slot


def test_jobs_admitted_together_all_start_before_any_of_them_steps():
    """A generation joins the continuous batch when its job starts, so a burst must be started as a whole
    (then its prompts are prefilled in one forward); a job cancelled while it waited never starts."""
    async def scenario():
        worker = Worker(max_active=3, max_waiting=3)
        order = []

        def steps(name):
            for i in range(2):
                order.append(name)
                yield i

        def start(name):
            def make_steps():
                order.append(f"start {name}")
                return steps(name)
            return make_steps

        jobs = [worker.submit(start(n)) for n in "abc"]
        gone = worker.submit(start("gone"))
        gone.cancel()
        worker.start()
        results = await asyncio.gather(*(j.collect() for j in [*jobs, gone]))
        worker.stop()
        return order, results

    order, results = asyncio.run(scenario())
    assert results == [[0, 1], [0, 1], [0, 1], []]
    assert order[:4] == ["start a", "start b", "start c", "a"] and "start gone" not in order


def test_a_failing_job_reports_its_error_and_others_go_on():
    async def scenario():
        worker = Worker(max_active=2, max_waiting=2)
        worker.start()

        def broken():
            raise ValueError("boom")
            yield

        bad, good = worker.submit(broken), worker.submit(lambda: iter([1, 2]))
        with pytest.raises(ValueError, match="boom"):
            await bad.collect()
        result = await good.collect()
        worker.stop()
        return result

    assert asyncio.run(scenario()) == [1, 2]


class SlowBackend(ModelBackend):
    """The real backend, slowed to ~20 ms per token so requests overlap predictably."""

    def generate(self, prompt_ids, config, stop_strings, batcher=None):
        streamer, pieces = super().generate(prompt_ids, config, stop_strings, batcher)

        def slow():
            for piece in pieces:
                time.sleep(0.02)
                yield piece
        return streamer, slow()


@pytest.fixture(scope="module")
def slow_server(model_dir, serve):
    app = create_app(SlowBackend(model_dir), ServerConfig(max_concurrency=2, max_queue=1, max_tokens=100))
    with serve(app) as url:
        yield url, app.state.server


def chat(max_tokens):
    return {"model": "tiny-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": max_tokens,
            "temperature": 0}


def wait_idle(server, timeout=5.0):
    deadline = time.monotonic() + timeout
    while server.worker.active or server.worker.waiting:
        assert time.monotonic() < deadline, "the worker did not go idle"
        time.sleep(0.02)


def test_a_full_queue_answers_429_and_the_admitted_requests_finish(slow_server):
    url, server = slow_server

    async def burst():
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            return await asyncio.gather(*(client.post("/v1/chat/completions", json=chat(100)) for _ in range(6)))

    responses = asyncio.run(burst())
    statuses = sorted(r.status_code for r in responses)
    # 2 running + 1 waiting are admitted (one more if a request finished before the last arrived)
    assert set(statuses) == {200, 429} and statuses.count(200) >= 3, statuses
    assert all(r.json()["error"]["type"] == "rate_limit_error" for r in responses if r.status_code == 429)
    wait_idle(server)


def metric(url, name):
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(name)


def test_a_client_that_disconnects_mid_stream_stops_its_generation(slow_server):
    url, server = slow_server
    before = metric(url, "lmforge_completion_tokens_total")
    with httpx.Client(base_url=url, timeout=60) as client, \
            client.stream("POST", "/v1/chat/completions", json={**chat(100), "stream": True}) as r:
        lines = r.iter_lines()
        for _ in range(6):
            next(lines)
    wait_idle(server)
    generated = metric(url, "lmforge_completion_tokens_total") - before
    assert generated < 50, generated  # 100 requested at 20 ms each; it stopped soon after the client left


def test_a_client_that_times_out_on_a_plain_request_stops_its_generation(slow_server):
    url, server = slow_server
    before = metric(url, "lmforge_completion_tokens_total")
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url + "/v1/chat/completions", json=chat(100), timeout=0.3)
    wait_idle(server)
    assert metric(url, "lmforge_completion_tokens_total") - before < 50


def test_health_and_metrics_report_the_server_state(slow_server):
    url, _ = slow_server
    assert httpx.get(url + "/health").json() == {"status": "ok", "model": "tiny-chat", "active": 0, "queue_depth": 0}
    text = httpx.get(url + "/metrics").text
    for name in ("lmforge_requests_total", "lmforge_request_latency_seconds_bucket", "lmforge_prompt_tokens_total",
                 "lmforge_time_to_first_token_seconds_bucket", "lmforge_queue_depth", "lmforge_active_requests"):
        assert name in text, name
    assert 'lmforge_requests_total{route="/v1/chat/completions",status="429"}' in text
