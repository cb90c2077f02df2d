"""Routes for fine-tuned task models: ``POST /v1/classify``, ``/v1/ner`` and ``/v1/qa``.

``lmforge serve DIR`` on a directory written by ``lmforge finetune classify|ner|qa`` serves it through a
:class:`TaskBackend`; these routes then answer with the :class:`~lmforge.tasks.predict.TaskPredictor`'s plain
data. They pass the same gate as the OpenAI routes (API key, body size), validate the body the same way
(``model`` must name the served model; errors in OpenAI's format), run the model on the one worker thread
(429 when its queue is full) and are counted in ``/metrics``. A task model asked to generate or embed, or a
language model asked to classify, gets a 400 naming what it serves instead.

    POST /v1/classify  {"model": M, "input": "text" | ["text", ...]}
        -> {"object": "list", "model": M, "data": [{"index": 0, "label": "spam", "probabilities": {...}}]}
    POST /v1/ner       {"model": M, "input": "text" | ["text", ...]}
        -> {"object": "list", "model": M, "data": [{"index": 0, "entities": [{"type", "text", "start", "end"}]}]}
    POST /v1/qa        {"model": M, "question": "...", "context": "..."}
        -> {"object": "answer", "model": M, "answer": "...", "start": 17, "end": 25, "score": 9.1}
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from lmforge.serve.errors import APIError
from lmforge.tasks.predict import TaskPredictor, is_task_dir

MAX_INPUTS = 256  # texts per /v1/classify or /v1/ner request
ROUTES = {"classify": "/v1/classify", "ner": "/v1/ner", "qa": "/v1/qa"}


class TaskBackend:
    """What the server needs from a task model directory; generation and embedding routes are refused."""

    generative = False

    def __init__(self, model_dir: str | Path, name: str | None = None) -> None:
        model_dir = Path(model_dir)
        self.predictor = TaskPredictor.load(model_dir)
        self.task = self.predictor.task
        self.name = name or model_dir.resolve().name
        self.context_length = self.predictor.max_len
        self.created = int(model_dir.joinpath("config.json").stat().st_mtime)

    def _refuse(self, what: str) -> APIError:
        return APIError(400, f"'{self.name}' is a fine-tuned {self.task!r} model: it cannot {what}; it serves "
                        f"POST {ROUTES[self.task]}", "model", "model_not_generative")

    def require_generative(self) -> None:
        raise self._refuse("generate text")

    def require_embedding(self) -> None:
        raise self._refuse("embed texts")


class _TaskRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    model: str


class TextsRequest(_TaskRequest):
    input: str | list[str]

    @model_validator(mode="before")
    @classmethod
    def _one_to_max_inputs(cls, data: object) -> object:
        """One message for every wrong shape of ``input`` instead of one per member of the union."""
        texts = data.get("input") if isinstance(data, dict) else None
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not 1 <= len(texts) <= MAX_INPUTS or \
                not all(isinstance(t, str) and t for t in texts):
            raise APIError(400, f"'input' must be a non-empty string or a list of 1 to {MAX_INPUTS} non-empty "
                           "strings", "input", "invalid_value")
        return data

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


class QARequest(_TaskRequest):
    question: Annotated[str, Field(min_length=1)]
    context: Annotated[str, Field(min_length=1)]


def task_router(server: Any) -> APIRouter:
    """The routes, sharing ``server`` (``lmforge.serve.app.Server``: parsing, worker, metrics) with the OpenAI
    routes."""
    router = APIRouter()

    def predictor_for(task: str) -> TaskPredictor:
        backend = server.backend
        if not isinstance(backend, TaskBackend):
            raise APIError(400, f"'{backend.name}' is a language model, not a fine-tuned {task!r} model: it serves "
                           "the OpenAI routes (/v1/chat/completions, /v1/completions, /v1/embeddings)", "model",
                           "model_not_a_task_model")
        if backend.task != task:
            raise APIError(400, f"'{backend.name}' is a fine-tuned {backend.task!r} model: it serves "
                           f"POST {ROUTES[backend.task]}", "model", "wrong_task")
        return backend.predictor

    async def texts_route(request: Request, task: str,
                          answer: Callable[[TaskPredictor, list[str]], list[dict]]) -> dict:
        body = await server.parse(request, TextsRequest)
        predictor = predictor_for(task)
        texts = body.texts()
        results = await server.run(request, lambda: answer(predictor, texts))
        return {"object": "list", "model": server.backend.name,
                "data": [{"index": i, **r} for i, r in enumerate(results)]}

    @router.post(ROUTES["classify"])
    async def classify(request: Request) -> dict:
        return await texts_route(request, "classify", lambda p, texts: p.classify(texts))

    @router.post(ROUTES["ner"])
    async def ner(request: Request) -> dict:
        return await texts_route(request, "ner", lambda p, texts: [{"entities": e} for e in p.entities(texts)])

    @router.post(ROUTES["qa"])
    async def qa(request: Request) -> dict:
        body = await server.parse(request, QARequest)
        predictor = predictor_for("qa")
        answer = (await server.run(request, lambda: predictor.answer([body.question], [body.context])))[0]
        return {"object": "answer", "model": server.backend.name, **answer}

    return router


def load_backend(model_dir: str | Path, name: str | None, make_lm_backend: Callable[[], Any]) -> Any:
    """A :class:`TaskBackend` for a fine-tuned task directory, else whatever ``make_lm_backend`` builds."""
    return TaskBackend(model_dir, name) if is_task_dir(model_dir) else make_lm_backend()
