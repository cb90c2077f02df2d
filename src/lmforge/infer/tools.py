"""Tool (function) calling: tools into the prompt, tool calls out of the model's text.

**Rendering.** A model whose chat template has a tools section (it reads the ``tools`` variable,
as Qwen2.5's or Llama 3.1's do) gets the tools and the conversation through that template, as
``apply_chat_template(messages, tools=...)`` would render them. Any other model gets the
**ChatML-style fallback** (the Hermes/Qwen convention), built from plain messages so it works with
every chat format:

- the system message gains a ``# Tools`` section listing each function's JSON schema inside
  ``<tools></tools>`` and asking for calls as ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``;
- an assistant message that made calls shows them as those ``<tool_call>`` blocks;
- a ``tool`` message (a call's result) becomes a user message ``<tool_response>...</tool_response>``.

**Forcing.** ``tool_choice="required"`` starts the reply with ``<tool_call>\\n`` and a named function
(``{"type": "function", "function": {"name": f}}``) with ``<tool_call>\\n{"name": "f", "arguments": `` —
the model only completes the call. ``"none"`` leaves the tools out.

**Parsing.** :func:`parse_tool_calls` takes every well-formed ``<tool_call>`` block (or a reply that
is one bare JSON object with ``name`` and ``arguments``/``parameters``) out of the text, as OpenAI
``tool_calls``; a block that is not valid JSON stays in the text, so nothing the model said is lost.
:class:`ToolCallStream` does the same while streaming: plain text flows as it comes, text that
may be the start of a call is held back until it is clearly one or clearly not.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jinja2
import jinja2.meta

from lmforge.errors import DataError
from lmforge.infer.chat import ChatFormat, TemplateFormat
from lmforge.tokenizers import Tokenizer

OPEN, CLOSE = "<tool_call>", "</tool_call>"
_BLOCK = re.compile(re.escape(OPEN) + r"\s*(.*?)\s*" + re.escape(CLOSE), re.DOTALL)
FALLBACK_INSTRUCTIONS = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{tools}\n</tools>\n\n"
    "For each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n<tool_call>\n{{\"name\": <function-name>, \"arguments\": "
    "<args-json-object>}}\n</tool_call>")


@dataclass
class ToolPrompt:
    ids: list[int]  # the prompt, ending with the opening of the assistant's turn (and any forced prefix)
    prefix: str  # text already written for the model (forced tool_choice): part of the reply to parse


def check_tools(tools: Sequence[Any]) -> list[dict[str, Any]]:
    """OpenAI tool definitions: ``{"type": "function", "function": {"name": ..., "parameters": {...}}}``."""
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(function, dict) \
                or not isinstance(function.get("name"), str) or not function["name"]:
            raise DataError(f'tools[{i}]: expected {{"type": "function", "function": {{"name": ..., '
                            f'"description": ..., "parameters": {{...}}}}}}')
    return list(tools)


def forced_name(tool_choice: Any) -> str | None:
    if isinstance(tool_choice, dict):
        return (tool_choice.get("function") or {}).get("name")
    return None


def template_has_tools(chat_format: ChatFormat) -> bool:
    """Does the model's own template read a ``tools`` variable?"""
    if not isinstance(chat_format, TemplateFormat):
        return False
    ast = jinja2.Environment().parse(chat_format.template.source)
    return "tools" in jinja2.meta.find_undeclared_variables(ast)


def _call_text(call: dict[str, Any]) -> str:
    function = call.get("function", {})
    arguments = function.get("arguments", "{}")
    with contextlib.suppress(json.JSONDecodeError):  # else shown as the string the client sent
        arguments = json.loads(arguments) if isinstance(arguments, str) else arguments
    return f"{OPEN}\n{json.dumps({'name': function.get('name'), 'arguments': arguments}, ensure_ascii=False)}\n{CLOSE}"


def fallback_messages(messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]] | None) -> list[dict]:
    """Plain ``role``/``content`` messages carrying the tools, calls and results as ChatML-style text."""
    out: list[dict[str, str]] = []
    for m in messages:
        if m["role"] == "tool":
            out.append({"role": "user", "content": f"<tool_response>\n{m.get('content') or ''}\n</tool_response>"})
        elif m["role"] == "assistant" and m.get("tool_calls"):
            calls = "\n".join(_call_text(c) for c in m["tool_calls"])
            out.append({"role": "assistant", "content": "\n".join(filter(None, [m.get("content"), calls]))})
        else:
            out.append({"role": m["role"], "content": m.get("content") or ""})
    if tools:
        section = FALLBACK_INSTRUCTIONS.format(tools="\n".join(json.dumps(t, ensure_ascii=False) for t in tools))
        if out and out[0]["role"] == "system":
            out[0] = {"role": "system", "content": f"{out[0]['content']}\n\n{section}"}
        else:
            out.insert(0, {"role": "system", "content": section})
    return out


def render_prompt(chat_format: ChatFormat, tokenizer: Tokenizer, messages: Sequence[dict[str, Any]],
                  tools: Sequence[dict[str, Any]] | None, tool_choice: Any = None) -> ToolPrompt:
    """Prompt ids for a conversation that may define tools and contain tool calls and results."""
    tools = check_tools(tools) if tools and tool_choice != "none" else None
    if tools and template_has_tools(chat_format):
        template = chat_format.template  # type: ignore[attr-defined]
        text = template.render([{**m, "content": m.get("content") or ""} for m in messages],
                               add_generation_prompt=True, tools=tools)
        ids = tokenizer.encode(text, allowed_special="all")
    else:
        ids = chat_format.render(fallback_messages(messages, tools))
    prefix = ""
    if tools and (name := forced_name(tool_choice)):
        prefix = f'{OPEN}\n{{"name": {json.dumps(name)}, "arguments": '
    elif tools and tool_choice == "required":
        prefix = f"{OPEN}\n"
    return ToolPrompt(ids + (tokenizer.encode(prefix) if prefix else []), prefix)


def _as_call(obj: Any) -> dict[str, Any] | None:
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        return None
    arguments = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(arguments, str):  # some models write the arguments as a JSON string already
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            return None
    return {"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
            "function": {"name": obj["name"], "arguments": json.dumps(arguments, ensure_ascii=False)}}


def parse_tool_calls(text: str) -> tuple[str | None, list[dict[str, Any]]]:
    """(the text without its tool calls, or None when nothing else is left; OpenAI ``tool_calls``)."""
    calls, kept, last = [], [], 0
    for match in _BLOCK.finditer(text):
        try:
            call = _as_call(json.loads(match.group(1)))
        except json.JSONDecodeError:
            call = None
        if call is not None:
            calls.append(call)
            kept.append(text[last:match.start()])
            last = match.end()
    kept.append(text[last:])
    rest = "".join(kept).strip()
    if not calls and rest.startswith("{"):
        try:
            bare = _as_call(json.loads(rest))
        except json.JSONDecodeError:
            bare = None
        if bare is not None:
            return None, [bare]
    return rest or None, calls


class ToolCallStream:
    """Streaming: ``feed`` returns the text that is safe to show now; ``finish`` the rest and the calls."""

    def __init__(self, prefix: str = "") -> None:
        self.text = prefix
        self.shown = 0  # characters of self.text already returned as content

    def feed(self, piece: str) -> str:
        self.text += piece
        start = self.text.find(OPEN, self.shown)
        if start >= 0:  # a call may be under way: show what came before it, hold the rest to the end
            safe_end = start
        else:  # hold back a tail that could still grow into "<tool_call>" (and a reply that opens with "{")
            safe_end = len(self.text)
            for n in range(min(len(OPEN) - 1, len(self.text) - self.shown), 0, -1):
                if OPEN.startswith(self.text[-n:]):
                    safe_end = len(self.text) - n
                    break
            if not self.text[:safe_end].strip() or self.text.lstrip().startswith("{"):
                safe_end = self.shown
        out, self.shown = self.text[self.shown:safe_end], max(self.shown, safe_end)
        return out

    def finish(self) -> tuple[str, list[dict[str, Any]]]:
        """(content not shown yet, tool calls) once generation has ended."""
        content, calls = parse_tool_calls(self.text[self.shown:]) if self.text[self.shown:] else (None, [])
        return content or "", calls
