"""Request bodies of the OpenAI API subset lmforge serves, validated strictly.

Types are strict (``"max_tokens": "10"`` is an error, not silently 10), ranges
follow OpenAI's, and parameters lmforge cannot honour are rejected with a clear
message instead of being ignored. Unknown extra fields are ignored, as vLLM does,
so clients that send vendor extensions still work.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lmforge.serve.errors import APIError

NonEmptyStop = Annotated[str, Field(min_length=1, max_length=256)]
Seed = Annotated[int, Field(ge=-(2**63), le=2**64 - 1)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class StreamOptions(_Strict):
    include_usage: bool = False


class SamplingRequest(_Strict):
    model: str
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    n: int | None = None
    stop: NonEmptyStop | Annotated[list[NonEmptyStop], Field(max_length=4)] | None = None
    seed: Seed | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None
    user: str | None = None
    # extras, named as in vLLM (clients send them in extra_body): min-p, the CTRL repetition penalty, beam search
    min_p: float | None = Field(None, ge=0, le=1)
    repetition_penalty: float | None = Field(None, gt=0, le=10)
    use_beam_search: bool = False
    beam_width: int = Field(4, ge=1, le=16)
    length_penalty: float = Field(1.0, ge=-10, le=10)
    early_stopping: bool = True

    def check_supported(self) -> None:
        """Reject valid OpenAI parameters whose values lmforge cannot honour."""
        if self.n is not None and self.n < 1:
            raise APIError(400, f"n must be >= 1, got {self.n}", "n", "invalid_value")
        if self.use_beam_search:
            wants_logprobs = self.logprobs is not None and self.logprobs is not False  # completions: 0 asks too
            for name, conflict in (("stream", self.stream), ("n", (self.n or 1) > 1), ("logprobs", wants_logprobs)):
                if conflict:
                    raise APIError(400, f"use_beam_search returns one best hypothesis, whole: it cannot be combined "
                                   f"with {name}", name, "unsupported_value")
        if self.logit_bias:
            raise APIError(400, "logit_bias is not supported", "logit_bias", "unsupported_parameter")
        if self.stream_options is not None and not self.stream:
            raise APIError(400, "stream_options is only allowed with stream: true", "stream_options")

    @property
    def stop_strings(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class FunctionCall(_Strict):
    name: str
    arguments: str  # JSON text, as OpenAI sends it


class ToolCall(_Strict):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(_Strict):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None  # an assistant message that called tools
    tool_call_id: str | None = None  # a tool message: which call this is the result of

    @model_validator(mode="after")
    def _content_required(self) -> ChatMessage:
        if self.content is None and not self.tool_calls:
            raise ValueError("content is required (except in an assistant message with tool_calls)")
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only assistant messages have tool_calls")
        return self

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content or [])


class ChatCompletionRequest(SamplingRequest):
    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20)
    tools: list[dict] | None = None
    tool_choice: str | dict | None = None
    response_format: dict | None = None

    def check_supported(self) -> None:
        super().check_supported()
        if self.tool_choice not in (None, "none", "auto", "required") and not isinstance(self.tool_choice, dict):
            raise APIError(400, "tool_choice must be none, auto, required or {\"type\": \"function\", "
                           "\"function\": {\"name\": ...}}", "tool_choice", "invalid_value")
        for i, m in enumerate(self.messages):  # OpenAI's rule: a tool result answers the assistant's call before it
            before = next((p for p in reversed(self.messages[:i]) if p.role != "tool"), None)
            if m.role == "tool" and (m.tool_call_id is None or before is None or before.role != "assistant"
                                     or m.tool_call_id not in {c.id for c in before.tool_calls or []}):
                raise APIError(400, f"messages[{i}]: a 'tool' message must answer a tool call of the assistant "
                               "message before it (tool_call_id = that call's id)", f"messages.[{i}].role")
        if self.tool_choice not in (None, "none", "auto") and not self.tools:
            raise APIError(400, f"tool_choice {self.tool_choice!r} needs tools", "tool_choice", "invalid_value")
        if isinstance(self.tool_choice, dict):  # a named call: the model would be made to call it, so it must exist
            name = (self.tool_choice.get("function") or {}).get("name")
            offered = [(t.get("function") or {}).get("name") for t in self.tools or []]
            if self.tool_choice.get("type") != "function" or name not in offered:
                raise APIError(400, f"tool_choice names the function {name!r}, which is not among the tools "
                               f"offered ({', '.join(map(repr, offered))})", "tool_choice", "invalid_value")
        if self.response_format and self.response_format.get("type") != "text":
            raise APIError(400, "only response_format {\"type\": \"text\"} is supported", "response_format",
                           "unsupported_value")
        if self.top_logprobs and not self.logprobs:
            raise APIError(400, "top_logprobs needs logprobs: true", "top_logprobs")

    def chat_messages(self) -> list[dict[str, str]]:
        """As the chat format expects them (OpenAI's "developer" role is the system prompt)."""
        return [{"role": "system" if m.role == "developer" else m.role, "content": m.text(),
                 **({"tool_calls": [c.model_dump() for c in m.tool_calls]} if m.tool_calls else {}),
                 **({"tool_call_id": m.tool_call_id} if m.tool_call_id else {})} for m in self.messages]

    @property
    def uses_tools(self) -> bool:
        """Tools are offered (rendered into the prompt, calls parsed from the reply)."""
        return bool(self.tools) and self.tool_choice != "none"

    @property
    def limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    @property
    def alternatives(self) -> int:
        return self.top_logprobs or 0


TokenIds = Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)]


class CompletionRequest(SamplingRequest):
    prompt: str | Annotated[list[str], Field(min_length=1, max_length=1)] | TokenIds | \
        Annotated[list[TokenIds], Field(min_length=1, max_length=1)]
    logprobs: int | None = Field(None, ge=0, le=5)
    echo: bool = False
    suffix: str | None = None
    best_of: int | None = None

    def check_supported(self) -> None:
        super().check_supported()
        if self.echo:
            raise APIError(400, "echo is not supported", "echo", "unsupported_parameter")
        if self.suffix:
            raise APIError(400, "suffix (insertion) is not supported", "suffix", "unsupported_parameter")
        if self.best_of not in (None, 1):
            raise APIError(400, "best_of must be 1", "best_of", "unsupported_value")

    @property
    def limit(self) -> int | None:
        return self.max_tokens

    @property
    def alternatives(self) -> int:
        return self.logprobs or 0


#: inputs per /v1/embeddings request, OpenAI's limit
MAX_EMBEDDING_INPUTS = 2048


class EmbeddingRequest(_Strict):
    model: str
    input: Annotated[str, Field(min_length=1)] | Annotated[list[Annotated[str, Field(min_length=1)]],
                                                           Field(min_length=1)] | TokenIds | \
        Annotated[list[TokenIds], Field(min_length=1)]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)
    user: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _at_most_2048_inputs(cls, data: object) -> object:
        """Checked before the union is tried, so a long list gets this message instead of one per union member."""
        inputs = data.get("input") if isinstance(data, dict) else None
        if isinstance(inputs, list) and len(inputs) > MAX_EMBEDDING_INPUTS and not isinstance(inputs[0], int):
            raise APIError(400, f"input has {len(inputs)} items; at most {MAX_EMBEDDING_INPUTS:,} inputs are "
                           "allowed per request: split them over several requests", "input", "invalid_value")
        return data
