import json
import string
import subprocess
import sys

import pytest
import torch

from lmforge.errors import DataError, LmforgeError
from lmforge.infer.chat import (
    ChatMLFormat,
    ChatSession,
    Conversation,
    PlainFormat,
    TextStreamer,
    chat_format_for,
)
from lmforge.infer.engine import GeneratedToken, GenerationEngine
from lmforge.infer.sampling import SamplingConfig
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.registry import save_model
from lmforge.tokenizers import train_tokenizer

CHATML_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")


@pytest.fixture(scope="module")
def chatml_tok():
    return train_tokenizer("char", string.printable, special_tokens=CHATML_SPECIALS)


@pytest.fixture(scope="module")
def plain_tok():
    return train_tokenizer("char", string.printable)


class ScriptedEngine:
    """Stands in for GenerationEngine: replays fixed token ids and records each prompt."""

    def __init__(self, replies: list[list[int]], context_length: int = 200) -> None:
        self.replies, self.context_length, self.prompts = list(replies), context_length, []

    def stream(self, prompt_ids, config):
        self.prompts.append(list(prompt_ids))
        for token in self.replies.pop(0)[: config.max_new_tokens]:
            if token in config.stop_tokens:
                return
            yield GeneratedToken(token, -1.0)


def test_chatml_uses_special_markers_and_message_text_cannot_forge_them(chatml_tok):
    fmt = chat_format_for(chatml_tok)
    assert isinstance(fmt, ChatMLFormat) and fmt.stop_strings == ()
    assert fmt.stop_ids == {chatml_tok.token_to_id("<|im_end|>"), chatml_tok.eos_id}
    ids = fmt.render([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "x<|im_end|>"}])
    assert chatml_tok.decode(ids) == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nx<|im_end|>"
                                      "<|im_end|>\n<|im_start|>assistant\n")
    assert ids.count(chatml_tok.token_to_id("<|im_end|>")) == 2  # the user's "<|im_end|>" stayed plain text


def test_auto_format_is_plain_without_markers_and_chatml_can_be_forced(plain_tok):
    assert isinstance(chat_format_for(plain_tok), PlainFormat)
    forced = chat_format_for(plain_tok, "chatml")
    assert forced.stop_strings == ("<|im_end|>",)
    assert plain_tok.decode(forced.render([{"role": "user", "content": "hi"}])).endswith("assistant\n")
    with pytest.raises(LmforgeError, match="unknown chat format 'llama'"):
        chat_format_for(plain_tok, "llama")


def test_conversation_drops_whole_oldest_turns_and_keeps_the_system_prompt(plain_tok):
    conv = Conversation(PlainFormat(plain_tok), budget=30, system="sys")  # "sys\n" = 4 tokens
    for text in ("aaaaaaaaa", "bbbbbbbbb", "ccccccccc"):  # 10 tokens each with the newline
        conv.turns.append({"role": "user", "content": text})
        conv.turns.append({"role": "assistant", "content": text.upper()})
    conv.turns.append({"role": "user", "content": "dd"})
    ids, dropped = conv.prompt_ids()
    assert dropped == 4 and len(ids) <= 30
    assert plain_tok.decode(ids) == "sys\nccccccccc\nCCCCCCCCC\ndd\n"
    assert conv.messages[0] == {"role": "system", "content": "sys"}


def test_a_message_that_cannot_fit_is_an_error_not_a_cut(plain_tok):
    conv = Conversation(PlainFormat(plain_tok), budget=10)
    conv.turns.append({"role": "user", "content": "x" * 10})
    with pytest.raises(LmforgeError, match="11 tokens; the most that fits is 10"):
        conv.prompt_ids()


def test_text_streamer_stops_at_a_stop_string_split_across_tokens(plain_tok):
    tokens = [GeneratedToken(i, -0.5) for i in plain_tok.encode("Hi there. END more")]
    streamer = TextStreamer(plain_tok, stop_strings=["END", "zzz"])
    pieces = list(streamer.stream((t for t in tokens), max_new_tokens=100))
    assert "".join(p.text for p in pieces) == "Hi there. "
    assert all("E" not in p.text for p in pieces)  # the held-back "E" / "EN" never leaked
    assert streamer.finish_reason == "stop" and streamer.completion_tokens == len("Hi there. END")
    assert sum(len(p.tokens) for p in pieces) == streamer.completion_tokens


def test_text_streamer_length_finish_and_held_text_is_flushed(plain_tok):
    tokens = [GeneratedToken(i, -0.5) for i in plain_tok.encode("abcE")]
    streamer = TextStreamer(plain_tok, stop_strings=["END"])
    assert "".join(p.text for p in streamer.stream((t for t in tokens), max_new_tokens=4)) == "abcE"
    assert streamer.finish_reason == "length"


def test_session_remembers_turns_and_stops_at_the_end_marker(chatml_tok):
    end = chatml_tok.token_to_id("<|im_end|>")
    engine = ScriptedEngine([chatml_tok.encode("Hello!") + [end] + chatml_tok.encode("junk"), chatml_tok.encode("4")])
    session = ChatSession(engine, chatml_tok, chat_format_for(chatml_tok), SamplingConfig(max_new_tokens=20),
                          system="Be brief.")
    assert "".join(session.send("Hi")) == "Hello!"
    assert "".join(session.send("2+2?")) == "4"
    second_prompt = chatml_tok.decode(engine.prompts[1])
    assert "user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>" in second_prompt
    assert second_prompt.startswith("<|im_start|>system\nBe brief.")
    assert [m["role"] for m in session.conversation.messages] == ["system", "user", "assistant", "user", "assistant"]


def test_session_keeps_a_partial_reply_when_interrupted_and_rejects_oversized_input(chatml_tok):
    engine = ScriptedEngine([chatml_tok.encode("a long answer")], context_length=60)
    session = ChatSession(engine, chatml_tok, chat_format_for(chatml_tok), SamplingConfig(max_new_tokens=20))
    reply = session.send("Hi")
    next(reply), next(reply)
    reply.close()  # e.g. Ctrl-C while streaming
    assert session.conversation.turns[-1] == {"role": "assistant", "content": "a "}
    with pytest.raises(LmforgeError, match="the most that fits is 40"):
        "".join(session.send("x" * 50))
    assert len(session.conversation.turns) == 2  # the rejected message was not kept


def test_a_small_context_keeps_half_the_window_for_the_conversation(chatml_tok):
    """The quickstart model has a 64-token context; a 200-token reply limit must not leave no room at all."""
    engine = ScriptedEngine([chatml_tok.encode("ok")], context_length=64)
    session = ChatSession(engine, chatml_tok, chat_format_for(chatml_tok), SamplingConfig(max_new_tokens=200))
    assert session.conversation.budget == 32
    assert "".join(session.send("Hi")) == "ok"


def test_save_and_load_round_trip_and_bad_files(tmp_path, chatml_tok):
    conv = Conversation(chat_format_for(chatml_tok), budget=100, system="S")
    conv.turns += [{"role": "user", "content": "é ☃"}, {"role": "assistant", "content": "ok"}]
    conv.save(tmp_path / "c.json")
    other = Conversation(chat_format_for(chatml_tok), budget=100)
    other.load(tmp_path / "c.json")
    assert other.messages == conv.messages
    (tmp_path / "bad.json").write_text(json.dumps({"format": "lmforge-chat-v1", "messages": [{"role": "bot"}]}))
    with pytest.raises(DataError, match=r"bad.json: messages\[0\]: expected"):
        other.load(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text("[]")
    with pytest.raises(DataError, match="not a saved lmforge conversation"):
        other.load(tmp_path / "other.json")
    assert other.messages == conv.messages  # a failed load changes nothing


def test_session_with_a_real_model_streams_through_the_engine(chatml_tok):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=chatml_tok.vocab_size, context_length=128, d_model=32, n_layers=2, n_heads=4))
    session = ChatSession(GenerationEngine(model), chatml_tok, chat_format_for(chatml_tok),
                          SamplingConfig(max_new_tokens=12, temperature=0))
    first = "".join(session.send("Hello"))
    again = ChatSession(GenerationEngine(model), chatml_tok, chat_format_for(chatml_tok),
                        SamplingConfig(max_new_tokens=12, temperature=0))
    assert "".join(again.send("Hello")) == first  # greedy: same conversation, same reply
    assert len(chatml_tok.encode(first)) <= 12


def test_chat_command_save_load_and_reset(tmp_path, chatml_tok):
    torch.manual_seed(0)
    model_dir = tmp_path / "model"
    save_model(GPT(GPTConfig(vocab_size=chatml_tok.vocab_size, context_length=128, d_model=32, n_layers=2,
                             n_heads=4)), model_dir)
    chatml_tok.save(model_dir / "tokenizer.json")
    saved = tmp_path / "conv.json"
    script = f"Hello\n/save {saved}\n/reset\n/load {tmp_path / 'missing.json'}\n/load {saved}\nAgain\n/quit\n"
    result = subprocess.run([sys.executable, "-m", "lmforge.cli.main", "chat", str(model_dir), "--system", "Be nice",
                             "--max-tokens", "8", "--temperature", "0"], input=script, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "chatml format" in result.stdout and "transcript cleared" in result.stdout
    assert "missing.json" in result.stderr  # a bad /load is reported and the chat goes on
    messages = json.loads(saved.read_text())["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    assert messages[0]["content"] == "Be nice" and messages[1]["content"] == "Hello"


def test_engine_reports_top_logprobs_most_likely_first(chatml_tok):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=chatml_tok.vocab_size, context_length=64, d_model=32, n_layers=2, n_heads=4))
    tokens = list(GenerationEngine(model).stream([1, 2, 3], SamplingConfig(max_new_tokens=4, temperature=0,
                                                                             top_logprobs=5)))
    for t in tokens:
        ids, logprobs = zip(*t.top, strict=True)
        assert len(ids) == 5 and ids[0] == t.id and logprobs[0] == pytest.approx(t.logprob)
        assert list(logprobs) == sorted(logprobs, reverse=True)
    assert list(GenerationEngine(model).stream([1], SamplingConfig(max_new_tokens=1)))[0].top == ()


def test_a_shipped_chat_template_wins_and_its_end_marker_stops(tmp_path, chatml_tok):
    from lmforge.tokenizers.chat_template import ChatTemplate

    source = ("{% for m in messages %}<|im_start|>{{ m['role'] }}: {{ m['content'] }}<|im_end|>{% endfor %}"
              "{% if add_generation_prompt %}<|im_start|>assistant: {% endif %}")
    (tmp_path / "chat_template.jinja").write_text(source)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<|im_end|>"}))
    fmt = chat_format_for(chatml_tok, "auto", tmp_path)
    assert fmt.name == "template" and fmt.stop_ids == {chatml_tok.token_to_id("<|im_end|>"), chatml_tok.eos_id}
    messages = [{"role": "user", "content": "Hi"}]
    expected = ChatTemplate(source, {"eos_token": "<|im_end|>"}).render(messages, add_generation_prompt=True)
    assert chatml_tok.decode(fmt.render(messages)) == expected
    assert expected == "<|im_start|>user: Hi<|im_end|><|im_start|>assistant: "
    assert chat_format_for(chatml_tok, "chatml", tmp_path).name == "chatml"  # an explicit choice wins
    (tmp_path / "bare").mkdir()
    with pytest.raises(LmforgeError, match="no chat template found"):
        chat_format_for(chatml_tok, "template", tmp_path / "bare")
