"""Prometheus metrics for ``GET /metrics``: what an operator watches on a dashboard.

Each app gets its own registry (several servers in one process, as in tests, do
not collide). Routes outside the API are counted as ``other`` so hostile URLs
cannot blow up the number of time series.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
ROUTES = ("/", "/health", "/metrics", "/v1/models", "/v1/completions", "/v1/chat/completions", "/v1/embeddings",
          "/v1/classify", "/v1/ner", "/v1/qa")


class TokenRate:
    """Tokens per second over the last ``window`` seconds (a gauge: what the server does now, not on average)."""

    def __init__(self, window: float = 10.0) -> None:
        self.window = window
        self._events: deque[tuple[float, int]] = deque()  # (time, tokens)

    def add(self, n_tokens: int, now: float | None = None) -> None:
        self._events.append((time.monotonic() if now is None else now, n_tokens))

    def per_second(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        while self._events and self._events[0][0] < now - self.window:
            self._events.popleft()
        return sum(n for _, n in self._events) / self.window


class Metrics:
    def __init__(self, queue_depth: Callable[[], int], active: Callable[[], int],
                 batch_size: Callable[[], int] | None = None, kv_occupancy: Callable[[], float] | None = None,
                 kv_bytes: int = 0) -> None:
        """``batch_size`` and ``kv_occupancy`` describe the continuous batch (absent without one)."""
        self.registry = r = CollectorRegistry()
        self.requests = Counter("lmforge_requests", "HTTP requests by route and status", ["route", "status"],
                                registry=r)
        self.latency = Histogram("lmforge_request_latency_seconds", "Time from request to the end of the response",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.ttft = Histogram("lmforge_time_to_first_token_seconds", "Time from request to the first generated token",
                              buckets=LATENCY_BUCKETS, registry=r)
        self.prompt_tokens = Counter("lmforge_prompt_tokens", "Prompt tokens processed", registry=r)
        self.completion_tokens = Counter("lmforge_completion_tokens", "Tokens generated", registry=r)
        Gauge("lmforge_queue_depth", "Requests waiting for a generation slot", registry=r).set_function(queue_depth)
        Gauge("lmforge_active_requests", "Requests being generated", registry=r).set_function(active)
        self.token_rate = TokenRate()
        Gauge("lmforge_tokens_per_second", f"Tokens generated per second over the last {self.token_rate.window:g} s",
              registry=r).set_function(self.token_rate.per_second)
        if batch_size is not None:
            Gauge("lmforge_batch_size", "Rows (requests) in the batched decoding step", registry=r
                  ).set_function(batch_size)
        if kv_occupancy is not None:
            Gauge("lmforge_kv_cache_occupancy", "Fraction of the KV cache's positions in use", registry=r
                  ).set_function(kv_occupancy)
            Gauge("lmforge_kv_cache_bytes", "Memory of the pre-allocated KV cache", registry=r).set(kv_bytes)

    def count_tokens(self, n_tokens: int) -> None:
        self.completion_tokens.inc(n_tokens)
        if n_tokens:
            self.token_rate.add(n_tokens)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts every response (errors from other middleware included) and its latency."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        route = scope["path"] if scope["path"] in ROUTES else "other"
        start, status = time.perf_counter(), 500

        async def send_and_count(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_count)
        finally:
            self.metrics.requests.labels(route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)
