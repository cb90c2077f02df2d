"""A small tool-using loop: the model may search the store or calculate before it answers.

Each step renders the conversation with the tools (``infer.tools``: the template's tools section or
the ChatML-style fallback), generates, and parses tool calls. Calls run here and their results go
back as ``tool`` messages; a reply without calls is the answer. After ``max_steps`` steps the loop
stops and says so instead of running forever on a model that keeps calling tools.

Every chunk a ``search`` call shows gets the next number ([1], [2], ... across all calls), so the
final answer's citations resolve to file and offsets exactly as ``rag ask`` does.
"""

from __future__ import annotations

import ast
import json
import operator
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from lmforge.infer.chat import ChatFormat, generate_text
from lmforge.infer.engine import GenerationEngine
from lmforge.infer.sampling import SamplingConfig
from lmforge.infer.tools import parse_tool_calls, render_prompt
from lmforge.rag.answer import Citation, resolve_citations
from lmforge.rag.retriever import Hit, Mode, Retriever
from lmforge.tokenizers import Tokenizer

SYSTEM = ("You answer questions. Use the search tool to find facts in the documents and the calculator for "
          "arithmetic. Cite the numbered search results you use like [1].")
TOOLS = [
    {"type": "function", "function": {
        "name": "search", "description": "Search the indexed documents; returns numbered passages.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}},
    {"type": "function", "function": {
        "name": "calculator", "description": "Evaluate an arithmetic expression, e.g. (3 + 4) * 2 / 7.",
        "parameters": {"type": "object", "properties": {"expression": {"type": "string"}},
                       "required": ["expression"]}}},
]
_OPERATORS: dict[type, Callable[..., Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow, ast.USub: operator.neg,
    ast.UAdd: operator.pos}


def calculate(expression: str) -> float | int:
    """Arithmetic only (numbers, + - * / // % **, parentheses): no names, calls or attributes are evaluated."""
    def value(node: ast.AST) -> float | int:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            if isinstance(node.op, ast.Pow) and abs(value(node.right)) > 100:
                raise ValueError("exponent too large")
            return _OPERATORS[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](value(node.operand))
        raise ValueError(f"not arithmetic: {ast.dump(node)[:60]}")
    return value(ast.parse(expression, mode="eval").body)


@dataclass
class AgentRun:
    text: str  # the answer
    citations: list[Citation]
    sources: list[Hit] = field(default_factory=list)  # every chunk a search showed, numbered from 1
    steps: list[dict[str, Any]] = field(default_factory=list)  # each tool call and its result
    stopped: bool = False  # the step limit ended the loop before an answer


class Agent:
    def __init__(self, engine: GenerationEngine, tokenizer: Tokenizer, chat_format: ChatFormat,
                 retriever: Retriever, config: SamplingConfig, k: int = 3, max_steps: int = 4,
                 mode: Mode = "hybrid") -> None:
        self.engine, self.tokenizer, self.format, self.retriever = engine, tokenizer, chat_format, retriever
        self.config = replace(config, stop_tokens=config.stop_tokens | chat_format.stop_ids)
        self.k, self.max_steps, self.mode = k, max_steps, mode

    def _generate(self, messages: list[dict[str, Any]]) -> str:
        prompt = render_prompt(self.format, self.tokenizer, messages, TOOLS, "auto")
        _, pieces = generate_text(self.engine, self.tokenizer, prompt.ids, self.config, self.format.stop_strings)
        return "".join(p.text for p in pieces).strip()

    def _run_tool(self, name: str, arguments: dict[str, Any], sources: list[Hit]) -> str:
        try:
            if name == "calculator":
                return str(calculate(str(arguments["expression"])))
            if name == "search":
                hits = self.retriever.search(str(arguments["query"]), self.k, self.mode)
                first = len(sources) + 1
                sources.extend(hits)
                return "\n".join(f"[{first + i}] {' '.join(h.chunk.text.split())}" for i, h in enumerate(hits))
            return f"error: no tool named {name!r} (tools: search, calculator)"
        except (KeyError, ValueError, SyntaxError, ZeroDivisionError, OverflowError) as e:
            return f"error: {type(e).__name__}: {e}"

    def run(self, question: str) -> AgentRun:
        messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
        sources: list[Hit] = []
        steps: list[dict[str, Any]] = []
        for _ in range(self.max_steps):
            content, calls = parse_tool_calls(self._generate(messages))
            if not calls:
                answer = content or ""
                return AgentRun(answer, resolve_citations(answer, sources), sources, steps)
            messages.append({"role": "assistant", "content": content, "tool_calls": calls})
            for call in calls:
                arguments = json.loads(call["function"]["arguments"])
                result = self._run_tool(call["function"]["name"], arguments if isinstance(arguments, dict) else {},
                                        sources)
                steps.append({"tool": call["function"]["name"], "arguments": arguments, "result": result})
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
        return AgentRun(f"(stopped after {self.max_steps} steps without an answer)", [], sources, steps, stopped=True)
