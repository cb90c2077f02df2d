"""Tool rendering and parsing apart from any server: template tools sections, the fallback, streaming."""

import json

import pytest

from lmforge.infer.chat import TemplateFormat
from lmforge.infer.tools import ToolCallStream, parse_tool_calls, render_prompt, template_has_tools
from lmforge.tokenizers import train_tokenizer
from lmforge.tokenizers.chat_template import ChatTemplate

TOOL = {"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}
WITH_TOOLS = ("{% if tools %}TOOLS:{% for t in tools %}{{ t.function.name }};{% endfor %}\n{% endif %}"
              "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"
              "{% if add_generation_prompt %}assistant: {% endif %}")


@pytest.fixture(scope="module")
def tokenizer():
    import string
    return train_tokenizer("char", string.printable)


def test_a_template_with_a_tools_section_renders_the_tools_itself(tokenizer):
    fmt = TemplateFormat(tokenizer, ChatTemplate(WITH_TOOLS))
    assert template_has_tools(fmt)
    prompt = render_prompt(fmt, tokenizer, [{"role": "user", "content": "2+2?"}], [TOOL], "auto")
    assert tokenizer.decode(prompt.ids) == "TOOLS:add;user: 2+2?\nassistant: " and prompt.prefix == ""  # trim_blocks
    plain = TemplateFormat(tokenizer, ChatTemplate("{% for m in messages %}{{ m.content }}{% endfor %}"))
    assert not template_has_tools(plain)
    text = tokenizer.decode(render_prompt(plain, tokenizer, [{"role": "user", "content": "hi"}], [TOOL]).ids)
    assert text.startswith("# Tools") and '"name": "add"' in text and text.endswith("hi")


def test_parsing_keeps_text_and_takes_well_formed_calls():
    text = 'A <tool_call>{"name": "add", "arguments": {"a": 1}}</tool_call> B <tool_call>{oops}</tool_call>'
    content, calls = parse_tool_calls(text)
    assert content == "A  B <tool_call>{oops}</tool_call>"
    assert [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls] == [("add", {"a": 1})]
    assert parse_tool_calls('{"name": "add", "parameters": {"a": 2}}')[0] is None  # a bare JSON call
    assert parse_tool_calls("no calls here") == ("no calls here", [])


@pytest.mark.parametrize("text", [
    'Sure.<tool_call>\n{"name": "add", "arguments": {"a": 1}}\n</tool_call>',
    "less < more and <tool_ nothing",
    '{"name": "add", "arguments": {}}',
    "",
])
def test_streaming_in_any_pieces_equals_parsing_the_whole(text):
    for size in (1, 3, 7):
        stream, shown = ToolCallStream(), ""
        for i in range(0, len(text), size):
            piece = stream.feed(text[i:i + size])
            assert "<tool_call>" not in piece
            shown += piece
        rest, calls = stream.finish()
        content, expected = parse_tool_calls(text)
        assert shown + rest == (content or "") or (shown + rest).strip() == (content or "")
        assert [c["function"] for c in calls] == [c["function"] for c in expected]
