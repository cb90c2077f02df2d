"""Retrieval routes, when ``lmforge serve MODEL --rag-store DIR`` names a store (built by ``lmforge rag index``).

    POST /v1/rag/search  {"model": M, "query": "...", "top_k": 5, "mode": "hybrid"}
        -> {"object": "list", "model": M, "data": [{"score", "source", "start", "end", "doc_id", "text", ...}]}
    POST /v1/rag/answer  {"model": M, "question": "...", "top_k": 4, "mode": "hybrid", "max_tokens": 64,
                          "temperature": 0}
        -> {"object": "rag.answer", "model": M, "answer": "... [1] ...",
            "citations": [{"number": 1, "source", "start", "end", "text"}], "sources": [...], "usage": {...}}

``answer`` shows the model the ``top_k`` chunks numbered [1]..[k] and asks for a cited answer, as
``lmforge rag ask`` does; ``citations`` are the numbers the answer used, resolved to file and
character offsets, ``sources`` every chunk it was shown. Same gate, validation, worker queue and
metrics as the OpenAI routes.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from lmforge.infer.sampling import SamplingConfig
from lmforge.rag.answer import cited_messages, resolve_citations
from lmforge.rag.retriever import Hit, Mode, Retriever
from lmforge.serve.errors import APIError


class _RagRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    model: str
    top_k: int = Field(5, ge=1, le=100)
    mode: Mode = "hybrid"


class SearchRequest(_RagRequest):
    query: Annotated[str, Field(min_length=1, max_length=10_000)]


class AnswerRequest(_RagRequest):
    top_k: int = Field(4, ge=1, le=20)
    question: Annotated[str, Field(min_length=1, max_length=10_000)]
    max_tokens: int | None = Field(None, ge=1)  # default: as many as the server allows
    temperature: float = Field(0.0, ge=0, le=2)


def _cited(number: int, hit: Hit) -> dict[str, Any]:
    c = hit.chunk
    return {"number": number, "source": c.source, "start": c.start, "end": c.end, "text": c.text}


def rag_router(server: Any, retriever: Retriever) -> APIRouter:
    """The routes, sharing ``server`` (``serve.app.Server``: parsing, worker, metrics) with the OpenAI routes."""
    router = APIRouter()
    backend = server.backend

    @router.post("/v1/rag/search")
    async def rag_search(request: Request) -> dict:
        body = await server.parse(request, SearchRequest)
        hits = await server.run(request, lambda: retriever.search(body.query, body.top_k, body.mode))
        return {"object": "list", "model": backend.name, "data": [h.to_json() for h in hits]}

    @router.post("/v1/rag/answer")
    async def rag_answer(request: Request) -> dict:
        started = time.perf_counter()
        body = await server.parse(request, AnswerRequest)
        backend.require_generative()
        hits = await server.run(request, lambda: retriever.search(body.question, body.top_k, body.mode))
        prompt = await to_thread.run_sync(backend.chat_prompt, cited_messages(body.question, hits))
        if len(prompt) >= server.context_length:
            raise APIError(400, f"the question and its {len(hits)} sources take {len(prompt)} tokens; the context "
                           f"holds {server.context_length}: lower top_k", "top_k", "invalid_value")
        max_new = server.max_new_tokens(body.max_tokens, len(prompt), server.config.max_tokens)
        config = SamplingConfig(max_new_tokens=max_new, temperature=body.temperature,
                                stop_tokens=backend.sampling_stops())
        gen = server.start(prompt, config, list(backend.chat_format.stop_strings), started)
        answer = "".join(p.text for p in await server.collect(request, gen)).strip()
        citations = resolve_citations(answer, hits)
        return {"object": "rag.answer", "model": backend.name, "answer": answer,
                "citations": [_cited(c.number, c.hit) for c in citations if c.hit is not None],
                "sources": [_cited(i, h) for i, h in enumerate(hits, 1)], "usage": server.usage(gen)}

    return router
