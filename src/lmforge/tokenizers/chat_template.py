"""Chat templates: turn a list of messages into the exact prompt text a chat model was trained on.

A chat model never sees "messages"; it sees one string with role markers,
e.g. ChatML::

    <|im_start|>user
    Hi!<|im_end|>
    <|im_start|>assistant

Each model family ships its own markers as a Jinja2 template (in
``tokenizer_config.json``, a ``chat_template.jinja`` file, or a GGUF's
``tokenizer.chat_template``). A prompt rendered even slightly differently from
training (a missing newline) measurably hurts answers, so this module renders
templates the way Hugging Face's ``apply_chat_template`` does: the same
sandboxed Jinja2 settings (``trim_blocks``, ``lstrip_blocks``, loop controls),
the same helpers (``raise_exception``, ``strftime_now``, a ``tojson`` that does
not escape HTML) and the same variables (``messages``, ``add_generation_prompt``,
``bos_token``, ``eos_token``, ...).

>>> t = ChatTemplate.chatml()
>>> t.render([{"role": "user", "content": "Hi!"}], add_generation_prompt=True)
'<|im_start|>user\\nHi!<|im_end|>\\n<|im_start|>assistant\\n'
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

from lmforge.errors import ConfigError, DataError
from lmforge.io import read_json, read_text
from lmforge.tokenizers.gguf_meta import read_gguf_metadata

#: ChatML markers; lmforge's own chat models use them (add both as special tokens to the tokenizer).
IM_START, IM_END = "<|im_start|>", "<|im_end|>"

#: The default template for models that ship none: plain ChatML.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# Special-token names transformers passes to every template (its ``special_tokens_map``).
_SPECIAL_NAMES = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")

Message = Mapping[str, Any]


@dataclass(frozen=True)
class ChatTemplate:
    """A Jinja2 chat template plus the special-token strings it may refer to.

    ``source`` is the template text, ``special_tokens`` e.g.
    ``{"bos_token": "<s>", "eos_token": "</s>"}``, ``origin`` says where the
    template came from (shown in error messages).
    """

    source: str
    special_tokens: dict[str, str] = field(default_factory=dict)
    origin: str = "built-in ChatML"

    # ----------------------------------------------------------- construct
    @classmethod
    def chatml(cls) -> ChatTemplate:
        """The ChatML default (``<|im_start|>role\\ncontent<|im_end|>\\n``) with ``<|im_end|>`` as end of turn."""
        return cls(CHATML_TEMPLATE, {"eos_token": IM_END})

    @classmethod
    def from_model_dir(cls, directory: str | Path, default: bool = True) -> ChatTemplate:
        """The template shipped with a model folder (or a ``.gguf`` file).

        Looks, in order, at ``chat_template.jinja``, ``tokenizer_config.json``'s
        ``chat_template`` and the first ``*.gguf`` file. Without any, returns
        :meth:`chatml` when ``default`` is true (lmforge's own models), else
        raises :class:`ConfigError`.
        """
        directory = Path(directory)
        if directory.is_file() and directory.suffix == ".gguf":
            return cls.from_gguf(directory)
        if not directory.is_dir():
            raise ConfigError(f"model directory not found: {directory}")
        config_path = directory / "tokenizer_config.json"
        config = read_json(config_path, "tokenizer config") if config_path.is_file() else {}
        specials = _special_tokens_from_config(config)
        jinja_path = directory / "chat_template.jinja"
        if jinja_path.is_file():
            return cls(read_text(jinja_path), specials, str(jinja_path))
        if config.get("chat_template") is not None:
            return cls(_pick_default(config["chat_template"], config_path), specials, str(config_path))
        ggufs = sorted(directory.glob("*.gguf"))
        if ggufs:
            return cls.from_gguf(ggufs[0])
        if default:
            return cls.chatml()
        raise ConfigError(
            f"{directory}: no chat template found (looked for chat_template.jinja, a 'chat_template' in "
            "tokenizer_config.json and a .gguf file)"
        )

    @classmethod
    def from_gguf(cls, path: str | Path) -> ChatTemplate:
        """The ``tokenizer.chat_template`` of a GGUF file, with its bos/eos token strings."""
        meta = read_gguf_metadata(path)
        source = meta.get("tokenizer.chat_template")
        if not isinstance(source, str):
            raise ConfigError(f"{path}: the GGUF metadata has no tokenizer.chat_template")
        tokens = meta.get("tokenizer.ggml.tokens") or []
        specials = {}
        for name in ("bos", "eos", "unknown", "padding"):
            token_id = meta.get(f"tokenizer.ggml.{name}_token_id")
            if token_id is not None and 0 <= token_id < len(tokens):
                specials[{"unknown": "unk", "padding": "pad"}.get(name, name) + "_token"] = tokens[token_id]
        return cls(source, specials, str(path))

    # -------------------------------------------------------------- render
    @property
    def eos_token(self) -> str | None:
        """The end-of-turn string generation should stop at (``None`` if the model names none)."""
        return self.special_tokens.get("eos_token")

    def render(
        self,
        messages: Sequence[Message],
        add_generation_prompt: bool = False,
        **variables: Any,
    ) -> str:
        """Render ``messages`` (dicts with ``role`` and ``content``) to prompt text.

        ``add_generation_prompt=True`` appends the opening of an assistant turn
        (what you want before generating a reply). Extra ``variables`` (e.g.
        ``tools=[...]``, ``enable_thinking=False``) are passed to the template,
        as ``apply_chat_template(**kwargs)`` does.
        """
        _check_messages(messages)
        context = {**self.special_tokens, **variables}
        context.setdefault("tools", None)
        context.setdefault("documents", None)
        try:
            return _compile(self.source).render(
                messages=[dict(m) for m in messages], add_generation_prompt=add_generation_prompt, **context
            )
        except jinja2.TemplateError as e:
            raise ConfigError(f"chat template from {self.origin}: {e}") from None

    def render_with_assistant_spans(self, messages: Sequence[Message]) -> tuple[str, list[tuple[int, int]]]:
        """Render a whole conversation and locate each assistant turn in it, for fine-tuning.

        Returns ``(text, spans)``: ``text[start:end]`` is what the model must
        produce for each assistant message (its content and end-of-turn
        marker), i.e. the characters whose tokens carry loss in SFT. A span is
        the difference between rendering the conversation up to that turn
        with a generation prompt and rendering it including the turn, so it
        works for any template that renders conversations prefix-stably.
        """
        _check_messages(messages)
        text = self.render(messages)
        spans: list[tuple[int, int]] = []
        for i, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            prompt = self.render(messages[:i], add_generation_prompt=True)
            upto = self.render(messages[: i + 1])
            if not (upto.startswith(prompt) and text.startswith(upto)):
                raise ConfigError(
                    f"chat template from {self.origin} does not render conversations prefix-stably "
                    f"(message {i}), so assistant turns cannot be located"
                )
            spans.append((len(prompt), len(upto)))
        return text, spans


# ------------------------------------------------------------------ helpers
def _check_messages(messages: Sequence[Message]) -> None:
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping) or "role" not in m or "content" not in m:
            raise DataError(f"message {i} must be an object with 'role' and 'content', got {m!r}")


def _special_tokens_from_config(config: Mapping[str, Any]) -> dict[str, str]:
    """``bos_token`` etc. from a tokenizer_config (plain strings or ``{"content": ...}`` objects)."""
    out = {}
    for name in _SPECIAL_NAMES:
        value = config.get(name)
        if isinstance(value, Mapping):
            value = value.get("content")
        if isinstance(value, str):
            out[name] = value
    return out


def _pick_default(chat_template: Any, where: Path) -> str:
    """``chat_template`` is a string, or a list of ``{"name", "template"}`` of which we use "default"."""
    if isinstance(chat_template, str):
        return chat_template
    if isinstance(chat_template, list):
        named = {t.get("name"): t.get("template") for t in chat_template if isinstance(t, Mapping)}
        if isinstance(named.get("default"), str):
            return named["default"]
    raise ConfigError(f"{where}: chat_template must be a string or a list with a 'default' entry")


class _GenerationTag(jinja2.ext.Extension):
    """Accept ``{% generation %}...{% endgeneration %}`` (HF's assistant-mask marker) and render its body."""

    tags = {"generation"}

    def parse(self, parser: jinja2.parser.Parser) -> jinja2.nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.Scope(body).set_lineno(lineno)


def _tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None,
            sort_keys: bool = False) -> str:
    # Jinja's own tojson escapes <, >, & for HTML; chat templates need the plain JSON.
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _raise_exception(message: str) -> None:
    raise jinja2.TemplateError(message)


@lru_cache(maxsize=32)
def _compile(source: str) -> jinja2.Template:
    """Compile a template in a sandbox: templates from model hubs are untrusted code."""
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[_GenerationTag, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    try:
        return env.from_string(source)
    except jinja2.TemplateSyntaxError as e:
        raise ConfigError(f"chat template: line {e.lineno}: {e.message}") from None
