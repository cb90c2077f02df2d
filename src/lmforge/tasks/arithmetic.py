"""A verifiable task generated on the fly: small additions and subtractions with exact answers.

RL on verifiable answers needs no reward model: a program checks each reply. A problem is
``"What is 17 + 25? Reply with the number only."``; the reply is scored by two rules, summed::

    correct  1.0   the last integer in the reply is the answer ("17 + 25 = 42" counts)
    format   0.5   the reply is a bare integer and nothing else ("42")

so a bare right answer earns 1.5 and *exact match* (the metric) is a reply that is exactly the answer.
Training problems are drawn from a seeded stream, one per index, so a resumed run sees the same ones;
the held-out problems come from another seed and are excluded from the stream: never trained on.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from lmforge.errors import ConfigError

REPLY_FORMAT = "Reply with the number only."
FORMAT_BONUS = 0.5
_INTEGER = re.compile(r"-?\d+")


@dataclass(frozen=True)
class Problem:
    a: int
    op: str  # "+" or "-"
    b: int

    @property
    def prompt(self) -> str:
        return f"What is {self.a} {self.op} {self.b}? {REPLY_FORMAT}"

    @property
    def answer(self) -> str:
        return str(self.a + self.b if self.op == "+" else self.a - self.b)


@dataclass(frozen=True)
class Score:
    reward: float
    correct: bool  # the last integer in the reply is the answer
    bare: bool  # the reply is one integer and nothing else
    exact: bool  # the reply is exactly the answer


def score_reply(reply: str, answer: str) -> Score:
    """The verifiable reward of one reply (see the module docstring)."""
    text = reply.strip()
    numbers = _INTEGER.findall(text)
    correct = bool(numbers) and numbers[-1] == answer
    bare = _INTEGER.fullmatch(text) is not None
    return Score(float(correct) + FORMAT_BONUS * bare, correct, bare, correct and bare)


def _draw(rng: random.Random, max_operand: int) -> Problem:
    return Problem(rng.randint(0, max_operand), rng.choice("+-"), rng.randint(0, max_operand))


def held_out_problems(n: int, max_operand: int, seed: int = 12345) -> list[Problem]:
    """``n`` different problems for evaluation (the same ones for the same arguments)."""
    if n > (max_operand + 1) ** 2:  # at most half of the 2 (max_operand + 1)^2 problems: training needs the rest
        raise ConfigError(f"cannot hold out {n} problems with operands up to {max_operand}: raise the operand range")
    rng, seen = random.Random(seed), {}
    while len(seen) < n:
        seen.setdefault(_draw(rng, max_operand), None)
    return list(seen)


class ProblemStream:
    """Training problems, one per index, never one of ``exclude``; ``index`` is the resumable position."""

    def __init__(self, max_operand: int, exclude: list[Problem], seed: int = 0) -> None:
        self.max_operand, self.exclude, self.seed, self.index = max_operand, set(exclude), seed, 0

    def next(self) -> Problem:
        rng = random.Random(self.seed * 1_000_003 + self.index)
        self.index += 1
        while (problem := _draw(rng, self.max_operand)) in self.exclude:
            pass
        return problem
