"""Chat on top of the one generation engine: prompt formats, a conversation that
fits the context window, text streaming with stop strings, and a chat session.

A chat model only ever sees one token sequence. A *chat format* turns the list of
messages (``{"role": "system" | "user" | "assistant", "content": ...}``) into that
sequence, ending with the header of the assistant turn the model must write:

    <|im_start|>system\\nYou are terse.<|im_end|>\\n<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n

(ChatML, the format SmolLM2 and many instruction-tuned models use). The reply ends
when the model emits the end-of-turn marker. A model that ships a chat template
(``chat_template.jinja``, ``tokenizer_config.json`` or its GGUF) is prompted with
exactly that template; lmforge's own chat models use ChatML; a base model that was
never taught a format (e.g. the quickstart model) gets the plain format: the
messages are simply lines of text that the model continues.

The conversation must fit the context window together with the reply, so when it
grows too long whole turns (a user message and the reply to it) are dropped, oldest
first; a message is never cut in half and the system prompt is always kept.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Protocol

from lmforge.errors import DataError, LmforgeError
from lmforge.infer.detokenize import IncrementalDecoder
from lmforge.infer.engine import GeneratedToken, GenerationEngine
from lmforge.infer.sampling import SamplingConfig
from lmforge.io import read_json, write_json
from lmforge.tokenizers.base import Tokenizer
from lmforge.tokenizers.chat_template import IM_END, IM_START, ChatTemplate

ROLES = ("system", "user", "assistant")
Message = dict[str, str]
FinishReason = Literal["stop", "length"]
SAVE_FORMAT = "lmforge-chat-v1"


class ChatFormat(Protocol):
    """Messages -> prompt token ids, and how the model marks the end of its turn."""

    name: str
    stop_ids: frozenset[int]  # token ids that end the assistant's turn
    stop_strings: tuple[str, ...]  # text that ends the turn when the marker is not a single token

    def render(self, messages: Sequence[Message]) -> list[int]:
        """Token ids of the conversation followed by the header of a new assistant turn."""
        ...


class ChatMLFormat:
    """``<|im_start|>role\\ncontent<|im_end|>\\n`` per message.

    When the tokenizer has the two markers as special tokens they are single ids
    (and message text can never produce them: it is encoded with specials off);
    otherwise they are plain text and the end marker is a stop string.
    """

    name = "chatml"
    START, END = IM_START, IM_END

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self.start_id, self.end_id = tokenizer.token_to_id(self.START), tokenizer.token_to_id(self.END)
        self.stop_ids = frozenset({self.end_id, tokenizer.eos_id} - {None})
        self.stop_strings = () if self.end_id is not None else (self.END,)

    def _marker(self, special_id: int | None, text: str) -> list[int]:
        return [special_id] if special_id is not None else self.tokenizer.encode(text)

    def render(self, messages: Sequence[Message]) -> list[int]:
        ids: list[int] = []
        # the text between two markers is encoded in one piece, as a template renderer + tokenizer would
        for message in messages:
            ids += self._marker(self.start_id, self.START)
            ids += self.tokenizer.encode(f"{message['role']}\n{message['content']}")
            ids += self._marker(self.end_id, self.END) + self.tokenizer.encode("\n")
        return ids + self._marker(self.start_id, self.START) + self.tokenizer.encode("assistant\n")


class PlainFormat:
    """No roles or markers: each message is a line of text the model continues (for base models)."""

    name = "plain"
    stop_strings: tuple[str, ...] = ()

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self.stop_ids = frozenset({tokenizer.eos_id} - {None})

    def render(self, messages: Sequence[Message]) -> list[int]:
        return self.tokenizer.encode("".join(m["content"] + "\n" for m in messages))


class TemplateFormat:
    """The model's own Jinja chat template, rendered and tokenized as ``apply_chat_template`` does.

    As with Hugging Face, the rendered text is tokenized with special tokens
    recognised, so a message that contains a marker's text produces that marker.
    """

    name = "template"

    def __init__(self, tokenizer: Tokenizer, template: ChatTemplate) -> None:
        self.tokenizer, self.template = tokenizer, template
        end = template.eos_token
        end_id = tokenizer.token_to_id(end) if end else None
        self.stop_ids = frozenset({end_id, tokenizer.eos_id} - {None})
        self.stop_strings = (end,) if end and end_id is None else ()

    def render(self, messages: Sequence[Message]) -> list[int]:
        return self.tokenizer.encode(self.template.render(messages, add_generation_prompt=True), allowed_special="all")


FORMATS = ("auto", "template", "chatml", "plain")


def chat_format_for(tokenizer: Tokenizer, name: str = "auto", model_dir: str | Path | None = None) -> ChatFormat:
    """The prompt format for a model.

    ``auto``: the template shipped in ``model_dir`` if any, else ChatML when the
    tokenizer has the ChatML markers as special tokens, else plain text.
    """
    if name not in FORMATS:
        raise LmforgeError(f"unknown chat format {name!r}; expected one of {list(FORMATS)}")
    if name in ("auto", "template") and model_dir is not None:
        template = ChatTemplate.from_model_dir(model_dir)  # the built-in ChatML when the model ships none
        if template.origin != ChatTemplate.chatml().origin:
            return TemplateFormat(tokenizer, template)
    if name == "template":
        raise LmforgeError(f"{model_dir}: no chat template found (chat_template.jinja, a 'chat_template' in "
                           "tokenizer_config.json or a .gguf); use --format chatml or plain")
    if name == "auto":
        has_markers = all(tokenizer.token_to_id(marker) is not None for marker in (IM_START, IM_END))
        name = "chatml" if has_markers else "plain"
    return ChatMLFormat(tokenizer) if name == "chatml" else PlainFormat(tokenizer)


def validate_messages(messages: object, source: str = "messages") -> list[Message]:
    """Check a JSON message list (``[{"role", "content"}, ...]``) and return it as plain dicts."""
    if not isinstance(messages, list):
        raise DataError(f"{source}: expected a list of messages, got {type(messages).__name__}")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise DataError(f"{source}[{i}]: expected {{'role': one of {list(ROLES)}, 'content': a string}}, "
                            f"got {m!r:.200}")
        out.append({"role": m["role"], "content": m["content"]})
    return out


class Conversation:
    """Messages plus the rule that keeps them within ``budget`` prompt tokens."""

    def __init__(self, chat_format: ChatFormat, budget: int, system: str | None = None) -> None:
        if budget <= 0:
            raise LmforgeError(f"no room for a conversation: the prompt token budget is {budget}")
        self.format, self.budget = chat_format, budget
        self.system = system
        self.turns: list[Message] = []  # user/assistant messages, oldest first

    @property
    def messages(self) -> list[Message]:
        head = [{"role": "system", "content": self.system}] if self.system else []
        return head + self.turns

    def reset(self) -> None:
        self.turns.clear()

    def prompt_ids(self) -> tuple[list[int], int]:
        """Render the conversation, dropping the oldest whole turns until it fits.

        Returns the prompt ids and how many messages were dropped (they are gone for good).
        A last user message that does not fit even alone (with the system prompt) is an error.
        """
        start = 0  # index of the oldest turn kept
        while True:
            ids = self.format.render(self.messages[: 1 if self.system else 0] + self.turns[start:])
            if len(ids) <= self.budget:
                del self.turns[:start]
                return ids, start
            if start >= len(self.turns) - 1:
                raise LmforgeError(f"the message (with the system prompt) is {len(ids)} tokens; the most that fits "
                                   f"is {self.budget}: shorten it or the system prompt")
            # drop the oldest user message and every reply up to the next user message
            start += 1
            while start < len(self.turns) - 1 and self.turns[start]["role"] != "user":
                start += 1

    def save(self, path: str | Path) -> None:
        write_json(path, {"format": SAVE_FORMAT, "messages": self.messages})

    def load(self, path: str | Path) -> None:
        """Replace the conversation (and system prompt) with one written by :meth:`save`."""
        doc = read_json(path, "saved conversation")
        if not isinstance(doc, dict) or doc.get("format") != SAVE_FORMAT:
            raise DataError(f"{path}: not a saved lmforge conversation (expected \"format\": \"{SAVE_FORMAT}\")")
        messages = validate_messages(doc.get("messages"), f"{path}: messages")
        system = [m["content"] for m in messages if m["role"] == "system"]
        if len(system) > 1 or (system and messages[0]["role"] != "system"):
            raise DataError(f"{path}: a conversation has at most one system message, and it comes first")
        self.system = system[0] if system else None
        self.turns = [m for m in messages if m["role"] != "system"]


@dataclass
class TextPiece:
    """New text and the tokens it came from (text may be empty while a character or stop string is pending)."""

    text: str
    tokens: list[GeneratedToken] = field(default_factory=list)


class TextStreamer:
    """Token stream -> text pieces, ending at a stop string (which is never shown).

    Text that might be the start of a stop string is held back until it is clear
    that it is not; afterwards ``finish_reason`` and ``completion_tokens`` are set.
    """

    def __init__(self, tokenizer: Tokenizer, stop_strings: Iterable[str] = ()) -> None:
        self.tokenizer = tokenizer
        self.stop_strings = tuple(s for s in stop_strings if s)
        self.finish_reason: FinishReason | None = None
        self.completion_tokens = 0

    def _holdback(self, text: str) -> int:
        """Length of the longest end of ``text`` that could begin a stop string."""
        return max((k for s in self.stop_strings for k in range(min(len(s) - 1, len(text)), 0, -1)
                    if s.startswith(text[-k:])), default=0)

    def stream(self, tokens: Generator[GeneratedToken], max_new_tokens: int) -> Generator[TextPiece]:
        """Text pieces of ``tokens``. Closing the stream closes ``tokens`` (which stops the engine and frees its
        cache), even before the first piece: the server may close a request that joined a batch but never ran."""
        pieces = self._closing(tokens, max_new_tokens)
        next(pieces)  # to the bare yield, inside the try (closing an unstarted generator would skip its finally)
        return pieces

    def _closing(self, tokens: Generator[GeneratedToken], max_new_tokens: int) -> Generator[TextPiece | None]:
        try:
            yield None  # primed by stream()
            yield from self._pieces(tokens, max_new_tokens)
        finally:
            tokens.close()

    def _pieces(self, tokens: Iterator[GeneratedToken], max_new_tokens: int) -> Iterator[TextPiece]:
        decoder = IncrementalDecoder(self.tokenizer)
        pending, batch = "", []
        for token in tokens:
            self.completion_tokens += 1
            batch.append(token)
            pending += decoder.add(token.id)
            cut = min((i for i in (pending.find(s) for s in self.stop_strings) if i >= 0), default=-1)
            if cut >= 0:
                self.finish_reason = "stop"
                yield TextPiece(pending[:cut], batch)
                return
            keep = self._holdback(pending)
            yield TextPiece(pending[: len(pending) - keep], batch)
            pending, batch = pending[len(pending) - keep :], []
        pending += decoder.flush()
        self.finish_reason = "length" if self.completion_tokens >= max_new_tokens else "stop"
        if pending or batch:
            yield TextPiece(pending, batch)


def generate_text(engine: GenerationEngine, tokenizer: Tokenizer, prompt_ids: Sequence[int],
                  config: SamplingConfig, stop_strings: Iterable[str] = ()) -> tuple[TextStreamer, Iterator[TextPiece]]:
    """Start generating: returns the streamer (finish reason, token count) and its piece iterator."""
    streamer = TextStreamer(tokenizer, stop_strings)
    return streamer, streamer.stream(engine.stream(prompt_ids, config), config.max_new_tokens)


class ChatSession:
    """A multi-turn chat with one model: ``send`` streams the reply and remembers it."""

    def __init__(self, engine: GenerationEngine, tokenizer: Tokenizer, chat_format: ChatFormat,
                 config: SamplingConfig, system: str | None = None) -> None:
        self.engine, self.tokenizer, self.format = engine, tokenizer, chat_format
        self.config = replace(config, stop_tokens=config.stop_tokens | chat_format.stop_ids)
        # Room kept for the reply: at most half the window, so a small model (the quickstart's context is 64)
        # still has room for the conversation; a longer reply slides the window like any long generation.
        reply_room = min(config.max_new_tokens, engine.context_length // 2)
        self.conversation = Conversation(chat_format, engine.context_length - reply_room, system)
        self.dropped = 0  # messages dropped to fit the context by the last send

    def send(self, text: str) -> Iterator[str]:
        """Add a user message and stream the assistant's reply (kept in the conversation when done)."""
        self.conversation.turns.append({"role": "user", "content": text})
        try:
            prompt, self.dropped = self.conversation.prompt_ids()
        except LmforgeError:
            self.conversation.turns.pop()
            raise
        _, pieces = generate_text(self.engine, self.tokenizer, prompt, self.config, self.format.stop_strings)
        reply = []
        try:
            for piece in pieces:
                if piece.text:
                    reply.append(piece.text)
                    yield piece.text
        finally:  # also when the caller stops early (Ctrl-C): keep what was said
            self.conversation.turns.append({"role": "assistant", "content": "".join(reply)})
