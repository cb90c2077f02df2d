"""The prompting and ethics labs' own pieces: generated problems, answer parsing, prompt files, pronoun ratios."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from lmforge.labs import prompting
from lmforge.labs._models import tiny_chat_model
from lmforge.labs.ethics import pronoun_log_ratios
from lmforge.labs.prompting import CONDITIONS, end_of_reply, final_answer_correct, render_conversations, word_problems


def test_word_problems_have_the_right_answers_and_distinct_slips():
    problems = word_problems(50, seed=3)
    assert problems == word_problems(50, seed=3)
    for p in problems:
        a, b, c = map(int, re.findall(r"\d+", p.question))
        assert p.answer == a + b - c >= 1
        assert len(set(p.distractors)) == 3 and p.answer not in p.distractors
        assert p.reasoning.endswith(f"= {p.answer}.")


@pytest.mark.parametrize("reply, marked, correct", [
    ("9", False, True),
    ("Ben has 13 - 4 = 9 apples left.", False, True),
    ("Ben has 9 apples. He gives 2", False, False),
    ("12 + 5 = 17. Giving 8 away leaves 17 - 8 = 9.\nAnswer: 9", True, True),
    ("Answer: 9\nProblem: Alex has 200 apples.", True, True),
    ("12 + 5 = 17. Giving 8 away leaves 17 - 8 =", True, False),  # cut off before its answer
    ("Step 1: 12 + 5 = 17\nStep 2: 17 - 8 = 9", True, False),  # no "Answer:" line, though the last number fits
])
def test_final_answer_parsing(reply, marked, correct):
    assert final_answer_correct(reply, 9, marked) is correct


def test_constrained_choice_scores_each_candidate_as_a_complete_reply(monkeypatch):
    """A candidate that is a token prefix of another ("1" of "12") must not win by construction: every
    scored continuation is the number followed by the chat format's end-of-turn id."""
    model, tokenizer, _ = tiny_chat_model()
    scored = []

    def fake_loglikelihoods(model, requests, context_length, batch_size):
        scored.extend(requests)
        return [-1.0 - len(cont) for _, cont in requests]  # shortest continuation most likely

    monkeypatch.setattr(prompting, "continuation_loglikelihoods", fake_loglikelihoods)
    problem = prompting.WordProblem("q", 12, "r", (1, 13, 11))
    correct = prompting._choices_correct(model, tokenizer, [7], [(problem, [1, 2, 3])])
    assert [cont for _, cont in scored] == [tokenizer.encode(str(c)) + [7] for c in (12, 1, 13, 11)]
    assert correct == [0.0]  # "1" is shorter, so the fake model prefers it: the scores come from the model


def test_end_of_reply_prefers_the_end_of_turn_marker_to_end_of_text():
    tokenizer = SimpleNamespace(eos_id=0, encode=lambda text: [ord(ch) for ch in text])
    assert end_of_reply(SimpleNamespace(stop_ids=frozenset({0, 2})), tokenizer) == [2]  # ChatML: <|im_end|>
    assert end_of_reply(SimpleNamespace(stop_ids=frozenset({0})), tokenizer) == [0]
    assert end_of_reply(SimpleNamespace(stop_ids=frozenset()), tokenizer) == [10]  # plain text: the newline


def test_conversations_come_from_the_template_files():
    problem, *examples = word_problems(4, seed=1)
    conversations = render_conversations(problem, examples)
    assert set(conversations) == set(CONDITIONS)
    assert [m["role"] for m in conversations["few_shot"]] == ["user", "assistant"] * 3 + ["user"]
    assert len(conversations["zero_shot"]) == 1
    assert conversations["few_shot"][1]["content"] == str(examples[0].answer)
    assert conversations["few_shot_cot"][1]["content"].endswith(f"Answer: {examples[0].answer}")
    assert all(m["content"].startswith(problem.question) for m in (conversations["zero_shot"][0],
                                                                   conversations["few_shot_cot"][-1]))


def test_pronoun_log_ratio_is_the_next_word_log_probability_gap():
    model, tokenizer, _ = tiny_chat_model()
    ratios = pronoun_log_ratios(model, tokenizer, ("nurse",), ("The {} said that",))
    assert set(ratios) == {"nurse", "person"}
    with torch.no_grad():
        def logp(text: str, word: str) -> float:
            ids = tokenizer.encode(text + word)
            logits = model(torch.tensor([ids]))[0].float()
            n = len(tokenizer.encode(text))
            return float(F.log_softmax(logits[n - 1:-1], -1).gather(-1, torch.tensor(ids[n:])[:, None]).sum())
        expected = logp("The nurse said that", " he") - logp("The nurse said that", " she")
    assert ratios["nurse"][0] == pytest.approx(expected, abs=1e-4)
