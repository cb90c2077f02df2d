"""The OpenAI-compatible HTTP API, the web chat page and the metrics endpoint.

Request flow: GateMiddleware (API key, body size) -> route: parse + validate the
JSON body -> tokenize in a thread pool -> submit a job to the model worker (429
when its queue is full) -> stream or collect the result. The event loop only
parses, queues and formats; model work happens on the worker thread.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, replace
from importlib.resources import files
from typing import Any, TypeVar

import numpy as np
from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ValidationError

from lmforge.errors import LmforgeError
from lmforge.infer import tools
from lmforge.infer.batch import SlotsBusy
from lmforge.infer.beam import BeamConfig
from lmforge.infer.chat import TextPiece, TextStreamer
from lmforge.infer.sampling import SamplingConfig
from lmforge.rag.retriever import Retriever
from lmforge.serve.backend import ModelBackend
from lmforge.serve.errors import APIError, install_handlers, log, validation_error
from lmforge.serve.gate import GateMiddleware
from lmforge.serve.metrics import Metrics, MetricsMiddleware
from lmforge.serve.rag_routes import rag_router
from lmforge.serve.schemas import ChatCompletionRequest, CompletionRequest, EmbeddingRequest
from lmforge.serve.task_routes import task_router
from lmforge.serve.worker import Job, QueueFull, Worker, WorkerStopped

STATIC = files("lmforge.serve") / "static"
CLIENT_CLOSED = 499  # nginx's status for "the client went away before the answer"
Body = TypeVar("Body", bound=BaseModel)
T = TypeVar("T")


@dataclass
class ServerConfig:
    api_key: str | None = None
    max_concurrency: int = 4  # generations interleaved on the worker at once
    max_queue: int = 64  # requests waiting beyond those; more get 429
    max_body_bytes: int = 1_000_000
    max_tokens: int = 2048  # the most new tokens one request may ask for
    completion_default_tokens: int = 16  # OpenAI's default for /v1/completions
    # positions per request in the KV cache (None: the model's context length); the cache holds max_concurrency
    # of them, allocated at start: that is the memory bound, and prompt + max_tokens must fit one
    max_seq_len: int | None = 4096


@dataclass
class _Generation:
    """A submitted generation: its worker job and (once started) its streamer."""

    prompt_tokens: int
    started: float
    job: Job | None = None
    streamer: TextStreamer | None = None


class Server:
    """Routes and their shared state (backend, worker, metrics)."""

    def __init__(self, backend: ModelBackend, config: ServerConfig) -> None:
        self.backend, self.config = backend, config
        self.worker = Worker(config.max_concurrency, config.max_queue)
        # every active generation is a row of one batched decoding step (see backend.Batcher)
        self.batcher = backend.batcher(config.max_concurrency, config.max_seq_len) if backend.generative else None
        self.context_length = self.batcher.engine.max_len if self.batcher else backend.context_length
        if self.batcher:
            engine = self.batcher.engine
            self.metrics = Metrics(lambda: self.worker.waiting, lambda: self.worker.active, lambda: len(engine.rows),
                                   engine.occupancy, engine.cache.nbytes)
        else:
            self.metrics = Metrics(lambda: self.worker.waiting, lambda: self.worker.active)

    # ---- request parsing -------------------------------------------------------------------------------------

    async def parse(self, request: Request, schema: type[Body]) -> Body:
        """The JSON body as ``schema``, for the served model, or an OpenAI-format 400/404."""
        raw = await request.body()
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise APIError(400, f"the request body is not valid JSON ({e})", code="invalid_json") from None
        except RecursionError:
            raise APIError(400, "the request body is nested too deeply", code="invalid_json") from None
        if not isinstance(data, dict):
            raise APIError(400, f"the request body must be a JSON object, got {type(data).__name__}",
                           code="invalid_json")
        try:
            body = schema.model_validate(data)
        except ValidationError as e:
            raise validation_error(e) from None
        if body.model != self.backend.name:
            raise APIError(404, f"the model '{body.model[:100]}' does not exist; this server serves "
                           f"'{self.backend.name}'", "model", "model_not_found")
        if hasattr(body, "check_supported"):
            body.check_supported()
        return body

    def check_ids(self, ids: Sequence[int], param: str) -> None:
        if bad := [i for i in ids if i >= self.backend.tokenizer.vocab_size][:3]:
            raise APIError(400, f"token ids {bad} are out of range: the vocabulary has "
                           f"{self.backend.tokenizer.vocab_size} tokens", param, "invalid_value")

    def max_new_tokens(self, requested: int | None, prompt_tokens: int, default: int) -> int:
        room = self.context_length - prompt_tokens
        if room <= 0:
            raise APIError(400, f"this model's maximum context length is {self.context_length} tokens and "
                           f"the prompt has {prompt_tokens}; shorten it", "messages", "context_length_exceeded")
        if requested is None:
            return min(default, room)
        if requested > self.config.max_tokens:
            raise APIError(400, f"max_tokens is {requested}; this server allows at most {self.config.max_tokens}",
                           "max_tokens", "invalid_value")
        if requested > room:
            raise APIError(400, f"this model's maximum context length is {self.context_length} tokens; "
                           f"the prompt has {prompt_tokens} and max_tokens asks for {requested} more",
                           "max_tokens", "context_length_exceeded")
        return requested

    # ---- generation ------------------------------------------------------------------------------------------

    def start(self, prompt_ids: list[int], config: SamplingConfig, stops: Sequence[str], started: float,
              beam: BeamConfig | None = None) -> _Generation:
        gen = _Generation(len(prompt_ids), started)
        if beam is not None and beam.width > self.config.max_concurrency:
            raise APIError(400, f"beam_width is {beam.width}, but this server decodes at most "
                           f"{self.config.max_concurrency} rows at once (--max-concurrency)", "beam_width")

        def steps() -> Iterator[TextPiece]:  # runs on the worker thread
            if beam is not None:
                gen.streamer, pieces = self.backend.beam_search(prompt_ids, beam, stops, self.batcher)
            else:
                gen.streamer, pieces = self.backend.generate(prompt_ids, config, stops, self.batcher)
            return pieces

        gen.job = self.submit(steps)
        self.metrics.prompt_tokens.inc(len(prompt_ids))
        return gen

    def start_choices(self, prompt_ids: list[int], config: SamplingConfig, stops: Sequence[str], started: float,
                      n: int, beam: BeamConfig | None = None) -> list[_Generation]:
        """``n`` generations of one prompt: rows of the same batch (seeded: seed, seed + 1, ...; greedy rows agree,
        as OpenAI's do). More rows than the batch holds is a 400; a full queue cancels those already queued."""
        if n > self.config.max_concurrency:
            raise APIError(400, f"n is {n}, but this server decodes at most {self.config.max_concurrency} rows at "
                           "once (--max-concurrency)", "n", "invalid_value")
        gens: list[_Generation] = []
        try:
            for i in range(n):
                seed = None if config.seed is None else (config.seed + i) % 2**63
                gens.append(self.start(prompt_ids, replace(config, seed=seed), stops, started, beam))
        except APIError:
            for gen in gens:
                gen.job.cancel()
            raise
        return gens

    def submit(self, steps: Callable[[], Iterator[Any]]) -> Job:
        try:
            return self.worker.submit(steps)
        except QueueFull as e:
            raise APIError(429, str(e), code="queue_full") from None
        except WorkerStopped as e:
            raise APIError(503, str(e), code="shutting_down") from None

    async def run(self, request: Request, work: Callable[[], T]) -> T:
        """``work()`` on the model worker (its queue limit and 429 apply), unless the client leaves first."""
        job = self.submit(lambda: iter([work()]))
        return (await _unless_disconnected(request, job, job.collect()))[0]

    async def pieces(self, gen: _Generation) -> AsyncIterator[TextPiece]:
        """The job's pieces; records time-to-first-token and the tokens generated."""
        first = True
        try:
            async for piece in gen.job:
                if first and piece.tokens:
                    self.metrics.ttft.observe(time.perf_counter() - gen.started)
                    first = False
                self.metrics.count_tokens(len(piece.tokens))
                yield piece
        except WorkerStopped as e:
            raise APIError(503, str(e), code="shutting_down") from None
        except SlotsBusy as e:  # a beam search's rows are taken by other requests now: busy, as a full queue is
            raise APIError(429, f"the server is busy: {e}; retry", code="server_busy") from None
        except LmforgeError as e:
            raise APIError(400, str(e)) from None
        finally:
            gen.job.cancel()  # no-op when finished; stops the engine when the client went away

    async def collect(self, request: Request, gen: _Generation) -> list[TextPiece]:
        """All pieces, unless the client disconnects first (then the generation is cancelled)."""
        return (await self.collect_all(request, [gen]))[0]

    async def collect_all(self, request: Request, gens: Sequence[_Generation]) -> list[list[TextPiece]]:
        """All pieces of every choice, unless the client disconnects first (then every generation is cancelled:
        each ``pieces`` iterator cancels its job when it is interrupted)."""

        async def one(gen: _Generation) -> list[TextPiece]:
            return [piece async for piece in self.pieces(gen)]

        async def every() -> list[list[TextPiece]]:
            return list(await asyncio.gather(*(one(gen) for gen in gens)))

        return await _unless_disconnected(request, gens[0].job, every())

    def usage(self, gens: _Generation | Sequence[_Generation]) -> dict[str, int]:
        """Token counts; the prompt is counted once however many choices were generated from it."""
        gens = [gens] if isinstance(gens, _Generation) else gens
        completion = sum(gen.streamer.completion_tokens for gen in gens if gen.streamer)
        return {"prompt_tokens": gens[0].prompt_tokens, "completion_tokens": completion,
                "total_tokens": gens[0].prompt_tokens + completion}

    def token_logprobs(self, piece: TextPiece) -> list[dict[str, Any]]:
        """Chat-style entries: each token's text, bytes, logprob and its most likely alternatives."""
        return [{**self._token(token.id, token.logprob),
                 "top_logprobs": [self._token(i, lp) for i, lp in token.top]} for token in piece.tokens]

    def _token(self, token_id: int, logprob: float) -> dict[str, Any]:
        text = self.backend.tokenizer.decode([token_id])
        return {"token": text, "logprob": logprob, "bytes": list(text.encode())}


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _unless_disconnected(request: Request, job: Job, work: Coroutine[Any, Any, T]) -> T:
    """Await ``work``; if the client disconnects first, cancel ``job`` and answer 499."""
    result, gone = asyncio.ensure_future(work), asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({result, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if not result.done():
        job.cancel()
        result.cancel()
        raise APIError(CLIENT_CLOSED, "client closed the request", code="client_closed")
    return result.result()


def _sse(obj: Any) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


def _sampling(body, max_new: int, stop_ids: frozenset[int]) -> SamplingConfig:
    return SamplingConfig(max_new_tokens=max_new, temperature=1.0 if body.temperature is None else body.temperature,
                          top_p=body.top_p, stop_tokens=stop_ids, seed=None if body.seed is None else body.seed % 2**63,
                          top_logprobs=body.alternatives, min_p=body.min_p,
                          repetition_penalty=body.repetition_penalty or 1.0,
                          frequency_penalty=body.frequency_penalty or 0.0,
                          presence_penalty=body.presence_penalty or 0.0)


def _beam(body, config: SamplingConfig) -> BeamConfig | None:
    """The request's beam search (``use_beam_search``, as in vLLM), or None to sample."""
    if not body.use_beam_search:
        return None
    return BeamConfig(body.beam_width, config.max_new_tokens, body.length_penalty, body.early_stopping,
                      config.stop_tokens)


def create_app(backend: ModelBackend, config: ServerConfig | None = None, retriever: Retriever | None = None
               ) -> FastAPI:
    """The app; with a ``retriever`` (``lmforge serve --rag-store``) also /v1/rag/search and /v1/rag/answer."""
    server = Server(backend, config or ServerConfig())

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        server.worker.start()
        yield
        server.worker.stop()

    app = FastAPI(title="lmforge", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.server = server
    install_handlers(app)
    app.add_middleware(GateMiddleware, api_key=server.config.api_key, max_body_bytes=server.config.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=server.metrics)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.include_router(task_router(server))  # /v1/classify, /v1/ner, /v1/qa
    if retriever is not None:
        app.include_router(rag_router(server, retriever))  # /v1/rag/search, /v1/rag/answer

    @app.get("/")
    async def index() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"))

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "model": backend.name, "active": server.worker.active,
                "queue_depth": server.worker.waiting}

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(server.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    def model_card() -> dict:
        return {"id": backend.name, "object": "model", "created": backend.created, "owned_by": "lmforge",
                "context_length": server.context_length}

    @app.get("/v1/models")
    async def list_models() -> dict:
        return {"object": "list", "data": [model_card()]}

    @app.get("/v1/models/{model_id:path}")
    async def get_model(model_id: str) -> dict:
        if model_id != backend.name:
            raise APIError(404, f"the model '{model_id[:100]}' does not exist", "model", "model_not_found")
        return model_card()

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        started = time.perf_counter()
        body = await server.parse(request, ChatCompletionRequest)
        backend.require_generative()
        messages = body.chat_messages()
        rendered = await to_thread.run_sync(tools.render_prompt, backend.chat_format, backend.tokenizer, messages,
                                            body.tools, body.tool_choice)  # infer/tools.py: tools, calls, results
        prompt = rendered.ids
        max_new = server.max_new_tokens(body.limit, len(prompt), server.config.max_tokens)
        stops = [*body.stop_strings, *backend.chat_format.stop_strings]
        sampling = _sampling(body, max_new, backend.sampling_stops())
        gens = server.start_choices(prompt, sampling, stops, started, body.n or 1, _beam(body, sampling))
        head = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": backend.name,
                "system_fingerprint": None}
        if body.stream:
            return _stream(server, gens, head, body, chat=True, tool_prefix=rendered.prefix)
        choices = []
        for i, (gen, pieces) in enumerate(zip(gens, await server.collect_all(request, gens), strict=True)):
            logprobs = {"content": [e for p in pieces for e in server.token_logprobs(p)]} if body.logprobs else None
            message, finish = _reply(body, rendered.prefix + "".join(p.text for p in pieces),
                                     gen.streamer.finish_reason)
            choices.append({"index": i, "message": message, "logprobs": logprobs, "finish_reason": finish})
        return JSONResponse({**head, "object": "chat.completion", "choices": choices, "usage": server.usage(gens)})

    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        started = time.perf_counter()
        body = await server.parse(request, CompletionRequest)
        backend.require_generative()
        prompt = body.prompt[0] if isinstance(body.prompt, list) and not isinstance(body.prompt[0], int) \
            else body.prompt
        if isinstance(prompt, str):
            ids = await to_thread.run_sync(backend.tokenizer.encode, prompt)
            if not ids:
                raise APIError(400, "the prompt is empty", "prompt", "invalid_value")
        else:
            ids = list(prompt)
            server.check_ids(ids, "prompt")
        max_new = server.max_new_tokens(body.limit, len(ids), server.config.completion_default_tokens)
        stop_ids = frozenset({backend.tokenizer.eos_id} - {None})
        sampling = _sampling(body, max_new, stop_ids)
        gens = server.start_choices(ids, sampling, body.stop_strings, started, body.n or 1, _beam(body, sampling))
        head = {"id": f"cmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": backend.name}
        if body.stream:
            return _stream(server, gens, head, body, chat=False)
        choices = [{"index": i, "text": "".join(p.text for p in pieces),
                    "logprobs": _completion_logprobs(server, pieces) if body.logprobs is not None else None,
                    "finish_reason": gen.streamer.finish_reason}
                   for i, (gen, pieces) in enumerate(zip(gens, await server.collect_all(request, gens), strict=True))]
        return JSONResponse({**head, "object": "text_completion", "choices": choices, "usage": server.usage(gens)})

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> Response:
        body = await server.parse(request, EmbeddingRequest)
        backend.require_embedding()
        inputs = body.input if isinstance(body.input, list) and not isinstance(body.input[0], int) else [body.input]
        if isinstance(inputs[0], str):
            batch = await to_thread.run_sync(lambda: [backend.encode_for_embedding(text) for text in inputs])
        else:
            batch = [list(ids) for ids in inputs]
            for ids in batch:
                server.check_ids(ids, "input")
        for i, ids in enumerate(batch):
            if not ids or len(ids) > backend.context_length:
                raise APIError(400, f"input {i} has {len(ids)} tokens; it must have 1 to "
                               f"{backend.context_length}", "input", "invalid_value")
        width = backend.model.config.d_model
        if body.dimensions not in (None, width):
            raise APIError(400, f"this model's embeddings have {width} dimensions", "dimensions", "invalid_value")
        vectors = await server.run(request, lambda: backend.embed(batch))
        tokens = sum(map(len, batch))
        server.metrics.prompt_tokens.inc(tokens)
        data = [{"object": "embedding", "index": i, "embedding": _encode_vector(v, body.encoding_format)}
                for i, v in enumerate(vectors)]
        return JSONResponse({"object": "list", "data": data, "model": backend.name,
                             "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    return app


def _encode_vector(vector: list[float], encoding: str) -> list[float] | str:
    """``base64`` is little-endian float32 bytes, what the official client requests and decodes by default."""
    if encoding == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
    return vector


def _completion_logprobs(server: Server, pieces: list[TextPiece], offset: int = 0) -> dict:
    """The legacy completions layout: parallel lists, alternatives as {token: logprob} maps."""
    entries = [e for p in pieces for e in server.token_logprobs(p)]
    offsets = []
    for e in entries:
        offsets.append(offset)
        offset += len(e["token"])
    return {"tokens": [e["token"] for e in entries], "token_logprobs": [e["logprob"] for e in entries],
            "top_logprobs": [{t["token"]: t["logprob"] for t in e["top_logprobs"]} for e in entries],
            "text_offset": offsets}


def _reply(body: ChatCompletionRequest, text: str, finish: str | None) -> tuple[dict, str | None]:
    """The assistant message, with the tool calls parsed out of ``text`` when tools were offered."""
    if not body.uses_tools:
        return {"role": "assistant", "content": text}, finish
    content, calls = tools.parse_tool_calls(text)
    if not calls:
        return {"role": "assistant", "content": content or ""}, finish
    return {"role": "assistant", "content": content, "tool_calls": calls}, "tool_calls"


async def _merged(server: Server, gens: Sequence[_Generation]) -> AsyncIterator[tuple[int, TextPiece | None]]:
    """(choice index, piece) for every choice's pieces in the order they arrive, and (index, None) when that
    choice has ended. The first error of any choice is raised; leaving early cancels every generation."""
    arrivals: asyncio.Queue[tuple[int, TextPiece | Exception | None]] = asyncio.Queue()

    async def pump(i: int, gen: _Generation) -> None:
        try:
            async for piece in server.pieces(gen):
                arrivals.put_nowait((i, piece))
            arrivals.put_nowait((i, None))
        except Exception as e:  # handed to the consumer, which raises it (the request gets that error)
            arrivals.put_nowait((i, e))

    pumps = [asyncio.create_task(pump(i, gen)) for i, gen in enumerate(gens)]
    try:
        for _ in range(len(gens)):  # each choice ends once (None) or fails
            while True:
                i, item = await arrivals.get()
                if isinstance(item, Exception):
                    raise item
                yield i, item
                if item is None:
                    break
    finally:
        for task in pumps:  # a cancelled pump's ``pieces`` cancels its job
            task.cancel()


def _stream(server: Server, gens: Sequence[_Generation], head: dict, body, chat: bool,
            tool_prefix: str = "") -> StreamingResponse:
    """Server-sent events: one chunk per piece of text (each naming its choice's ``index``; with ``n`` > 1 the
    choices' chunks interleave as the batch produces them), a final chunk per choice with its finish reason,
    an optional usage chunk for all of them (``stream_options.include_usage``), then ``data: [DONE]``."""
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    head = {**head, "object": "chat.completion.chunk" if chat else "text_completion"}
    extra = {"usage": None} if include_usage else {}

    def chunk(i: int, text: str | None, finish: str | None, logprobs: Any = None, role: bool = False) -> dict:
        if chat:
            delta = {"role": "assistant", "content": ""} if role else ({"content": text} if text is not None else {})
            choice = {"index": i, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
        else:
            choice = {"index": i, "text": text or "", "logprobs": logprobs, "finish_reason": finish}
        return {**head, "choices": [choice], **extra}

    def piece_logprobs(piece: TextPiece, offset: int) -> dict | None:
        if not piece.tokens:
            return None
        if chat:
            return {"content": server.token_logprobs(piece)} if body.logprobs else None
        return _completion_logprobs(server, [piece], offset) if body.logprobs is not None else None

    def ending(i: int, calls: tools.ToolCallStream | None) -> Iterator[str]:
        """Choice ``i``'s last events: held-back text, then each tool call whole (clients join deltas by index),
        then the finish reason."""
        finish = gens[i].streamer.finish_reason
        if calls:
            rest, found = calls.finish()
            if rest:
                yield _sse(chunk(i, rest, None))
            for n, call in enumerate(found):
                delta = {"tool_calls": [{"index": n, **call}]}
                yield _sse({**head, "choices": [{"index": i, "delta": delta, "logprobs": None,
                                                 "finish_reason": None}], **extra})
            finish = "tool_calls" if found else finish
        yield _sse(chunk(i, None, finish))

    async def events() -> AsyncIterator[str]:
        offsets = [0] * len(gens)  # characters of token text sent so far, per choice (completions' text_offset)
        calls = [tools.ToolCallStream(tool_prefix) if chat and body.uses_tools else None for _ in gens]
        try:
            if chat:
                for i in range(len(gens)):
                    yield _sse(chunk(i, None, None, role=True))
            async with aclosing(_merged(server, gens)) as arrivals:  # closed (generations cancelled) on any exit
                async for i, piece in arrivals:
                    if piece is None:
                        for event in ending(i, calls[i]):
                            yield event
                        continue
                    logprobs = piece_logprobs(piece, offsets[i])
                    offsets[i] += sum(len(server.backend.tokenizer.decode([t.id])) for t in piece.tokens)
                    text = calls[i].feed(piece.text) if calls[i] else piece.text
                    if text or logprobs:
                        yield _sse(chunk(i, text, None, logprobs))
            if include_usage:
                yield _sse({**head, "choices": [], "usage": server.usage(gens)})
        except APIError as e:  # the stream has started (status 200): report the error in-band, as OpenAI does
            yield _sse(e.body())
        except Exception as e:  # a bug: log it, and still end the stream properly
            log.exception("internal error while streaming")
            yield _sse(APIError(500, f"internal server error ({type(e).__name__})").body())
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
