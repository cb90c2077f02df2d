"""Tool calling through /v1/chat/completions with the official openai client.

A scripted backend replays a known reply (token ids through the real TextStreamer), so these tests
check rendering and parsing, not what a tiny random model happens to say.
"""

import json

import openai
import pytest

from lmforge.infer.engine import GeneratedToken
from lmforge.serve.app import ServerConfig, create_app
from lmforge.serve.backend import ModelBackend

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                            "parameters": {"type": "object",
                                                           "properties": {"city": {"type": "string"}}}}}
CALL = 'Let me check.<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'


class ScriptedBackend(ModelBackend):
    """Generates ``self.script`` whatever the prompt; records the prompts it was given."""

    script = ""

    def __init__(self, model_dir):
        super().__init__(model_dir, name="scripted")
        self.prompts = []

    def generate(self, prompt_ids, config, stop_strings, batcher=None):
        self.prompts.append(self.tokenizer.decode(prompt_ids))
        tokens = (GeneratedToken(t, -1.0) for t in self.tokenizer.encode(self.script))
        from lmforge.infer.chat import TextStreamer
        streamer = TextStreamer(self.tokenizer, stop_strings)
        return streamer, streamer.stream(tokens, config.max_new_tokens)


@pytest.fixture(scope="module")
def scripted(tmp_path_factory, serve, chat_model_dir):
    backend = ScriptedBackend(chat_model_dir(tmp_path_factory.mktemp("tools") / "m", context_length=1024))
    with serve(create_app(backend, ServerConfig(max_tokens=400))) as url:
        yield backend, openai.OpenAI(api_key="x", base_url=f"{url}/v1", max_retries=0, timeout=60)


def ask(client, **kwargs):
    return client.chat.completions.create(model="scripted", messages=[{"role": "user", "content": "Weather?"}],
                                          **kwargs)


def test_a_tool_call_comes_back_as_openai_tool_calls(scripted):
    backend, client = scripted
    backend.script = CALL
    choice = ask(client, tools=[WEATHER]).choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content == "Let me check."
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "get_weather" and call.id.startswith("call_")
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert "<tools>" in backend.prompts[-1] and '"name": "get_weather"' in backend.prompts[-1]


def test_streaming_gives_the_same_content_and_call(scripted):
    backend, client = scripted
    backend.script = CALL
    content, calls, finish = "", {}, None
    for chunk in ask(client, tools=[WEATHER], stream=True):
        delta = chunk.choices[0].delta
        content += delta.content or ""
        for call in delta.tool_calls or []:
            calls.setdefault(call.index, {"name": "", "arguments": ""})
            calls[call.index]["name"] += call.function.name or ""
            calls[call.index]["arguments"] += call.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert content == "Let me check." and finish == "tool_calls"
    assert calls[0]["name"] == "get_weather" and json.loads(calls[0]["arguments"]) == {"city": "Paris"}


def test_tool_results_go_back_and_plain_answers_stay_plain(scripted):
    backend, client = scripted
    backend.script = "It is sunny in Paris <tool_call> not JSON </tool_call>"
    messages = [{"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": '{"sky": "sunny"}'}]
    choice = client.chat.completions.create(model="scripted", messages=messages, tools=[WEATHER]).choices[0]
    assert choice.finish_reason == "stop" and not choice.message.tool_calls
    assert choice.message.content == backend.script  # a malformed call stays text: nothing is lost
    prompt = backend.prompts[-1]
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>' in prompt
    assert '<tool_response>\n{"sky": "sunny"}\n</tool_response>' in prompt


def test_tool_choice_forces_a_named_call_and_none_leaves_tools_out(scripted):
    backend, client = scripted
    backend.script = '{"city": "Rome"}}\n</tool_call>'  # the server already wrote the call's start
    choice = ask(client, tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "get_weather"}}
                 ).choices[0]
    assert json.loads(choice.message.tool_calls[0].function.arguments) == {"city": "Rome"}
    assert backend.prompts[-1].endswith('<tool_call>\n{"name": "get_weather", "arguments": ')
    backend.script = CALL
    choice = ask(client, tools=[WEATHER], tool_choice="none").choices[0]
    assert choice.message.content == CALL and not choice.message.tool_calls and "<tools>" not in backend.prompts[-1]
    with pytest.raises(openai.BadRequestError, match="needs tools"):
        ask(client, tool_choice="required")
    with pytest.raises(openai.BadRequestError, match="'get_time', which is not among the tools offered"):
        ask(client, tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "get_time"}})
