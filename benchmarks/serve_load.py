"""Load test of ``lmforge serve`` over loopback: a bounded burst of streaming chat requests.

    python -m benchmarks.serve_load [--requests 1000] [--concurrency 16] [--max-tokens 16] [--model-dir DIR]

Starts the server as a subprocess (the real CLI), sends ``--requests`` streaming
``/v1/chat/completions`` requests with at most ``--concurrency`` in flight, then
stops by itself. Reports requests/s, generated tokens/s, p50/p95 latency and
time-to-first-token, and failed requests (non-200, an error event, or no
``[DONE]``). The reference, measured in the same run, is the same generations
run directly through the engine in this process, one after another: the ratio
shows what HTTP + SSE + queueing cost (or, with concurrency, gain).

Without --model-dir a random-weight 0.8M GPT (L4 d128, ctx 512) with a char
tokenizer is used; the load generator shares the machine's CPUs with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import torch

from benchmarks._common import markdown_table
from benchmarks._machine import machine_summary
from lmforge.assets import tinyshakespeare_path
from lmforge.infer.chat import generate_text
from lmforge.infer.sampling import SamplingConfig
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.registry import save_model
from lmforge.serve.backend import ModelBackend
from lmforge.tokenizers import train_tokenizer

QUESTIONS = ["Hello!", "What is a language model?", "Tell me about Rome.", "Write one line of verse.",
             "Why is the sky blue?", "Count to five.", "Who are you?", "Say something kind."]


def default_model(directory: Path) -> Path:
    text = tinyshakespeare_path().read_text(encoding="utf-8")
    tokenizer = train_tokenizer("char", text, special_tokens=("<|endoftext|>", "<|im_start|>", "<|im_end|>"))
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=tokenizer.vocab_size, context_length=512, d_model=128, n_layers=4, n_heads=4)
    save_model(GPT(config), directory)
    tokenizer.save(directory / "tokenizer.json")
    return directory


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


async def one_request(client: httpx.AsyncClient, model: str, question: str, max_tokens: int) -> dict:
    body = {"model": model, "messages": [{"role": "user", "content": question}], "max_tokens": max_tokens,
            "temperature": 0, "stream": True, "stream_options": {"include_usage": True}}
    start, ttft, tokens, done = time.perf_counter(), None, 0, False
    async with client.stream("POST", "/v1/chat/completions", json=body) as r:
        if r.status_code != 200:
            return {"ok": False}
        async for line in r.aiter_lines():
            if not line.startswith("data: "):
                continue
            if line == "data: [DONE]":
                done = True
                continue
            event = json.loads(line[6:])
            if "error" in event:
                return {"ok": False}
            if event.get("usage"):
                tokens = event["usage"]["completion_tokens"]
            elif ttft is None and event["choices"] and event["choices"][0]["delta"].get("content"):
                ttft = time.perf_counter() - start
    latency = time.perf_counter() - start
    return {"ok": done, "latency": latency, "ttft": latency if ttft is None else ttft, "tokens": tokens}


async def load(url: str, model: str, n: int, concurrency: int, max_tokens: int) -> tuple[list[dict], float]:
    limit = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:

        async def bounded(i: int) -> dict:
            async with limit:
                try:
                    return await one_request(client, model, QUESTIONS[i % len(QUESTIONS)], max_tokens)
                except httpx.HTTPError:
                    return {"ok": False}

        start = time.perf_counter()
        results = await asyncio.gather(*(bounded(i) for i in range(n)))
    return results, time.perf_counter() - start


def direct_tokens_per_second(model_dir: Path, n: int, max_tokens: int) -> float:
    """The same greedy chat generations through the engine in-process, sequentially."""
    backend = ModelBackend(model_dir)
    config = SamplingConfig(max_new_tokens=max_tokens, temperature=0, stop_tokens=backend.sampling_stops())
    tokens, start = 0, time.perf_counter()
    for i in range(n):
        prompt = backend.chat_prompt([{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}])
        streamer, pieces = generate_text(backend.engine, backend.tokenizer, prompt, config,
                                         backend.chat_format.stop_strings)
        for _ in pieces:
            pass
        tokens += streamer.completion_tokens
    return tokens / (time.perf_counter() - start)


def start_server(model_dir: Path, port: int, concurrency: int, *options: str) -> subprocess.Popen:
    """``lmforge serve`` in a subprocess (more CLI ``options`` appended), once /health answers."""
    proc = subprocess.Popen([sys.executable, "-m", "lmforge.cli.main", "serve", str(model_dir), "--port", str(port),
                             "--max-concurrency", str(concurrency), "--max-queue", str(4 * concurrency),
                             "--model-name", "bench", *options], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the server exited during start-up")
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start within 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--model-dir", type=Path, help="serve this model instead of the random 0.8M GPT")
    parser.add_argument("--direct-requests", type=int, default=200, help="requests in the in-process reference")
    args = parser.parse_args()
    print(machine_summary(), f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model_dir or default_model(Path(tmp) / "bench-model")
        direct = direct_tokens_per_second(model_dir, args.direct_requests, args.max_tokens)
        proc = start_server(model_dir, args.port, args.concurrency)
        try:
            url = f"http://127.0.0.1:{args.port}"
            asyncio.run(load(url, "bench", 2 * args.concurrency, args.concurrency, args.max_tokens))  # warm-up
            results, wall = asyncio.run(load(url, "bench", args.requests, args.concurrency, args.max_tokens))
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(30)
    good = [r for r in results if r["ok"]]
    failed = len(results) - len(good)
    latency, ttft = [r["latency"] for r in good], [r["ttft"] for r in good]
    tokens_per_s = sum(r["tokens"] for r in good) / wall
    ms = lambda s: f"{1000 * s:,.0f}"  # noqa: E731
    row = [f"{args.requests} req, {args.concurrency} concurrent, max_tokens {args.max_tokens}", str(failed),
           f"{len(good) / wall:,.1f}", f"{tokens_per_s:,.0f}", ms(percentile(latency, 50)), ms(percentile(latency, 95)),
           ms(percentile(ttft, 50)), ms(percentile(ttft, 95)), f"{direct:,.0f}", f"{tokens_per_s / direct:.2f}x"]
    print(markdown_table(["load", "failed", "req/s", "tok/s", "p50 latency ms", "p95 latency ms", "p50 TTFT ms",
                          "p95 TTFT ms", "engine direct tok/s", "server / direct"], [row]))
    if failed:
        raise SystemExit(f"{failed} requests failed")


if __name__ == "__main__":
    main()
