"""A running conversation transcript that fits a token budget.

When the transcript grows past the budget, whole turns are dropped from the
front, oldest first, never a message cut in half; the caller is told how many.
"""

from __future__ import annotations

from lmforge.errors import LmforgeError
from lmforge.tokenizers.base import Tokenizer


class Transcript:
    def __init__(self, tokenizer: Tokenizer, budget: int) -> None:
        if budget <= 0:
            raise LmforgeError(f"no room for a conversation: token budget is {budget}")
        self.tokenizer, self.budget = tokenizer, budget
        self.turns: list[list[int]] = []

    def reset(self) -> None:
        self.turns.clear()

    def add(self, text: str, must_fit: bool = True) -> int:
        """Append a turn; return how many turns were dropped to stay within the budget.

        A turn that alone exceeds the budget is an error when ``must_fit`` (the
        user's message: they should shorten it); otherwise (a long model reply)
        it is not kept, and counted as dropped.
        """
        turn = self.tokenizer.encode(text)
        if len(turn) > self.budget:
            if must_fit:
                raise LmforgeError(f"this message is {len(turn)} tokens; the most that fits is {self.budget}")
            return 1
        self.turns.append(turn)
        dropped = 0
        while sum(map(len, self.turns)) > self.budget:
            self.turns.pop(0)
            dropped += 1
        return dropped

    def ids(self) -> list[int]:
        return [t for turn in self.turns for t in turn]
