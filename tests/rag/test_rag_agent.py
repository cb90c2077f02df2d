"""The tool loop with a scripted engine: search and calculator results flow back, citations resolve, the step
limit holds, and the calculator evaluates arithmetic only."""

import string

import pytest

from lmforge.infer.chat import chat_format_for
from lmforge.infer.engine import GeneratedToken
from lmforge.infer.sampling import SamplingConfig
from lmforge.rag.agent import Agent, calculate
from lmforge.rag.retriever import Retriever
from lmforge.rag.stores import EmbeddedStore
from lmforge.tokenizers import train_tokenizer


class ScriptedEngine:
    """Replays one scripted reply per call and records the prompts (decoded) it was given."""

    context_length = 100_000

    def __init__(self, tokenizer, replies):
        self.tokenizer, self.replies, self.prompts = tokenizer, list(replies), []

    def stream(self, prompt_ids, config):
        self.prompts.append(self.tokenizer.decode(prompt_ids))
        for token in self.tokenizer.encode(self.replies.pop(0)):
            yield GeneratedToken(token, -1.0)


@pytest.fixture(scope="module")
def setup(tmp_path_factory, encoder, squad):
    docs, _ = squad
    retriever = Retriever(EmbeddedStore(tmp_path_factory.mktemp("agent")), encoder, warn=pytest.fail)
    retriever.index(docs)
    corpus = string.printable + "".join(d.text for d in docs)
    tokenizer = train_tokenizer("char", corpus, special_tokens=("<|endoftext|>", "<|im_start|>", "<|im_end|>"))
    return retriever, tokenizer


def call(name, **arguments):
    import json
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>"


def test_tools_run_and_the_answer_cites_search_results(setup):
    retriever, tokenizer = setup
    engine = ScriptedEngine(tokenizer, [call("calculator", expression="(24 - 10) * 3"),
                                        call("search", query="Which team won Super Bowl 50?"),
                                        "The Denver Broncos won [1], by 14 points x 3 = 42."])
    agent = Agent(engine, tokenizer, chat_format_for(tokenizer, "chatml"), retriever, SamplingConfig(temperature=0),
                  k=2, max_steps=4)
    run = agent.run("Who won, and what is 14 * 3?")
    assert [s["tool"] for s in run.steps] == ["calculator", "search"] and run.steps[0]["result"] == "42"
    assert "<tool_response>\n42\n</tool_response>" in engine.prompts[1]
    assert "[1] " in engine.prompts[2] and "[2] " in engine.prompts[2]  # numbered passages went back
    assert not run.stopped and run.text.startswith("The Denver Broncos")
    (citation,) = run.citations
    assert citation.hit is run.sources[0] and citation.hit.chunk.source == "Super_Bowl_50.txt"


def test_the_step_limit_stops_a_model_that_never_answers(setup):
    retriever, tokenizer = setup
    engine = ScriptedEngine(tokenizer, [call("calculator", expression="1+1")] * 10)
    run = Agent(engine, tokenizer, chat_format_for(tokenizer, "chatml"), retriever, SamplingConfig(temperature=0),
                max_steps=3).run("loop")
    assert run.stopped and len(engine.prompts) == 3 and len(run.steps) == 3


def test_the_calculator_only_does_arithmetic():
    assert calculate("2 ** 10 - 4 / 2") == 1022.0 and calculate("-(3 % 2)") == -1
    for bad in ("__import__('os')", "x + 1", "2 ** 1000", "[1, 2]"):
        with pytest.raises((ValueError, SyntaxError)):
            calculate(bad)
