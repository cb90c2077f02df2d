"""Speculative decoding: a cheap draft proposes ``k`` tokens, the target checks them in one forward pass.

Decoding is memory-bound: a target step reads every weight to produce one token. Reading them once for
``k + 1`` positions costs about the same, so if a draft model that shares the tokenizer guesses the next
tokens well, the target accepts several per pass (Leviathan et al. 2023; Chen et al. 2023).

The rule that keeps the target's distribution exactly: the draft samples x from its distribution q; the
target keeps x with probability min(1, p(x) / q(x)); on a rejection it draws from max(0, p - q),
renormalised, and the round ends. If all ``k`` are kept, the target's last position gives one more token
for free. P(token = y) = q(y) min(1, p(y)/q(y)) + P(reject) (p(y) - q(y))+ / sum (p - q)+ = p(y).
Greedy decoding is the case where p and q put all mass on their argmax: a proposal is kept exactly when
it is the target's own choice, so the output is the target's greedy output, token for token.

Two kinds of draft, behind the same verify loop (:func:`speculative_generate`):

- :class:`ModelDraft`, a smaller causal LM that shares the tokenizer, e.g. :func:`first_layers_draft`, a
  *self-speculative* draft from a Llama's first layers with the shared embedding, final norm and head (no
  extra weights; the head still has to be read every step). It keeps a KV cache, cut back after each round
  to the tokens that were kept, as the target's is.
- :class:`NgramDraft`, *prompt lookup* (Saxena 2023; llama.cpp's and vLLM's "ngram" speculator): find the
  latest earlier occurrence of the text's last n tokens (n = 3, then 2, then 1) and propose what followed it.
  No model at all, so a round costs one target pass; it guesses well when the reply copies its input
  (edits, rewrites, extraction, code) and proposes nothing when there is no match (then the round is a
  plain one-token step). Its proposals are certain (q is one-hot), for which the rule above reads: keep x
  with probability p(x), else draw from p without x. Single-token matches are right only ~1 time in 5 on
  SmolLM2's replies to the bundled instructions, but with packed weights (:mod:`lmforge.infer.packed`) a
  pass over 5 tokens costs what a pass over 1 does, so even a poor guess is free; with plain weights a
  longer pass costs up to 2x more, and ``ngram:3:2`` (no single-token matches) is the better choice.

Penalties (repetition, frequency) are not supported here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import torch
from torch import nn

from lmforge.errors import LmforgeError
from lmforge.infer.engine import GeneratedToken, GenerationEngine, describe_token, seeded_generator
from lmforge.infer.sampling import SamplingConfig, filter_logits
from lmforge.models.base import CausalLM
from lmforge.models.blocks.kv_cache import KVCache
from lmforge.models.llama import Llama
from lmforge.models.registry import load_model

Proposals = tuple[list[int], list[torch.Tensor | None]]  # draft tokens, and the q each was drawn from (None: certain)


def first_layers_draft(model: Llama, n_layers: int) -> Llama:
    """The first ``n_layers`` blocks of ``model`` with its embedding, final norm and head, all shared."""
    if not 0 < n_layers < model.config.n_layers:
        raise LmforgeError(f"the draft needs 1 to {model.config.n_layers - 1} layers, got {n_layers}")
    with torch.device("meta"):  # nothing to allocate: every module is replaced by the target's own
        draft = Llama(replace(model.config, n_layers=n_layers))
    draft.tok_emb, draft.norm, draft.lm_head = model.tok_emb, model.norm, model.lm_head
    draft.blocks = nn.ModuleList(model.blocks[:n_layers])
    return draft.eval()


@dataclass
class SpeculativeStats:
    proposed: int = 0
    accepted: int = 0
    target_passes: int = 0

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.proposed if self.proposed else 0.0


def token_probs(logits: torch.Tensor, config: SamplingConfig) -> torch.Tensor:
    """(V,) logits -> the distribution ``config`` samples from (one-hot on the argmax when greedy)."""
    if config.temperature == 0:
        return torch.nn.functional.one_hot(logits.argmax(), logits.shape[-1]).float()
    filtered = filter_logits(logits.float()[None] / config.temperature, config.top_k, config.top_p, config.min_p)
    return torch.softmax(filtered[0], dim=-1)


def accept_or_resample(p: torch.Tensor, q: torch.Tensor | None, proposal: int,
                       generator: torch.Generator | None) -> tuple[int, bool]:
    """Keep the draft's ``proposal`` (drawn from q; q None: proposed with certainty, a one-hot q) with probability
    min(1, p/q), else draw from (p - q)+."""
    u = torch.rand((), generator=generator, device=p.device)
    if u * (1.0 if q is None else q[proposal]) < p[proposal]:
        return proposal, True
    if q is None:
        residual = p.clone()
        residual[proposal] = 0
    else:
        residual = (p - q).clamp(min=0)
    return int(torch.multinomial(residual / residual.sum(), 1, generator=generator)), False


def _draw(probs: torch.Tensor, generator: torch.Generator | None) -> int:
    return int(torch.multinomial(probs, 1, generator=generator))


def _cuttable(cache, name: str) -> KVCache:
    if not isinstance(cache, KVCache):  # e.g. a sliding window's cache
        raise LmforgeError(f"speculative decoding cuts rejected proposals off the KV cache; the {name}'s cache "
                           f"({type(cache).__name__}) keeps only a window and cannot be cut back")
    return cache


class Draft(Protocol):
    """What the verify loop needs from a draft."""

    def propose(self, ids: list[int], k: int, config: SamplingConfig,
                generator: torch.Generator | None) -> Proposals:
        """Up to ``k`` tokens to follow ``ids`` (the prompt and every token kept so far)."""
        ...

    def keep(self, n: int) -> None:
        """The first ``n`` ids are final: forget whatever was read past them."""
        ...


class ModelDraft:
    """A smaller causal LM with the target's tokenizer, sampled with the request's settings, with its own KV cache."""

    def __init__(self, model: CausalLM) -> None:
        self.model = model.eval()
        self.cache = _cuttable(model.new_cache(1), "draft")

    def propose(self, ids: list[int], k: int, config: SamplingConfig,
                generator: torch.Generator | None) -> Proposals:
        device = self.model.tok_emb.weight.device
        k = min(k, self.model.context_length + 1 - len(ids))  # its cache ends up holding len(ids) + k - 1 ids
        tokens, qs = [], []
        feed = ids[self.cache.length:]  # the draft may lag behind: the last token(s) it has not read
        for _ in range(k):
            logits = self.model(torch.tensor([feed], device=device), self.cache)[0, -1]  # (V,)
            q = token_probs(logits, config)
            tokens.append(_draw(q, generator))
            qs.append(q)
            feed = tokens[-1:]
        return tokens, qs

    def keep(self, n: int) -> None:
        self.cache.length = min(self.cache.length, n)


class NgramDraft:
    """Prompt lookup: the continuation of the latest earlier occurrence of the last ``n`` tokens, longest n first."""

    def __init__(self, max_ngram: int = 3, min_ngram: int = 1) -> None:
        if not 1 <= min_ngram <= max_ngram:
            raise LmforgeError(f"the n-gram draft needs 1 <= min_ngram <= max_ngram, got {min_ngram}, {max_ngram}")
        self.max_ngram, self.min_ngram = max_ngram, min_ngram

    def propose(self, ids: list[int], k: int, config: SamplingConfig,
                generator: torch.Generator | None) -> Proposals:
        tokens = self.lookup(ids, k)
        return tokens, [None] * len(tokens)

    def lookup(self, ids: Sequence[int], k: int) -> list[int]:
        """At most ``k`` ids that followed the latest earlier match of ``ids``' last n ids ([] when none matches)."""
        for n in range(min(self.max_ngram, len(ids) - 1), self.min_ngram - 1, -1):
            suffix = list(ids[-n:])
            for start in range(len(ids) - n - 1, -1, -1):  # latest first; the suffix itself is not a match
                if list(ids[start : start + n]) == suffix:
                    return list(ids[start + n : start + n + k])
        return []

    def keep(self, n: int) -> None:
        """Nothing to cut back: the draft reads the ids afresh every round."""


def make_draft(target: CausalLM, spec: str) -> Draft:
    """A draft from a command-line spec: ``ngram`` (``ngram:N``: n-grams of N tokens down to 1; ``ngram:N:M``: down
    to M), ``layers:N`` (the target's first N layers; a Llama) or a model directory (a smaller model, same
    vocabulary)."""
    kind, _, arg = spec.partition(":")
    try:
        if kind == "ngram":
            longest, _, shortest = arg.partition(":")
            return NgramDraft(int(longest) if longest else 3, int(shortest) if shortest else 1)
        if kind == "layers":
            if not isinstance(target, Llama):
                raise LmforgeError(f"--draft layers:N needs a Llama target, got a {target.family!r} model")
            return ModelDraft(first_layers_draft(target, int(arg)))
    except ValueError:
        raise LmforgeError(f"--draft {spec!r}: expected ngram, ngram:N, ngram:N:M, layers:N (integers) or a model "
                           "directory") from None
    draft = load_model(spec)
    if not isinstance(draft, CausalLM) or draft.config.vocab_size != target.config.vocab_size:
        raise LmforgeError(f"--draft {spec}: a draft must be a Transformer decoder with the target's vocabulary "
                           f"({target.config.vocab_size} tokens)")
    return ModelDraft(draft.to(target.tok_emb.weight.device))


class SpeculativeEngine(GenerationEngine):
    """:class:`GenerationEngine`'s interface (``stream``, ``generate``) over :func:`speculative_stream`, so
    ``lmforge sample`` and ``chat`` take a ``--draft``; ``stats`` adds up every generation's rounds."""

    def __init__(self, model: CausalLM, draft: Draft, k: int = 4) -> None:
        if not isinstance(model, CausalLM):
            raise LmforgeError(f"speculative decoding needs a Transformer decoder with a KV cache; a {model.family!r} "
                               "model has none")
        super().__init__(model)
        self.draft, self.k, self.stats = draft, k, SpeculativeStats()

    def summary(self) -> str:
        s = self.stats
        return (f"draft: {s.accepted} of {s.proposed} proposed tokens kept ({s.acceptance_rate:.0%}), "
                f"{s.target_passes} model passes")

    def stream(self, prompt_ids: Sequence[int], config: SamplingConfig | None = None) -> Iterator[GeneratedToken]:
        return speculative_stream(self.model, self.draft, prompt_ids, config or SamplingConfig(), self.k, self.stats)


def speculative_generate(target: CausalLM, draft: CausalLM | Draft, prompt_ids: Sequence[int],
                         config: SamplingConfig, k: int = 4) -> tuple[list[int], SpeculativeStats]:
    """New token ids (a stop token ends them, not returned) distributed as the target alone would sample them.

    ``draft``: a :class:`Draft`, or a causal LM (wrapped in a :class:`ModelDraft`)."""
    stats = SpeculativeStats()
    draft = ModelDraft(draft) if isinstance(draft, CausalLM) else draft
    return [t.id for t in speculative_stream(target, draft, prompt_ids, config, k, stats)], stats


@torch.inference_mode()
def speculative_stream(target: CausalLM, draft: Draft, prompt_ids: Sequence[int], config: SamplingConfig,
                       k: int, stats: SpeculativeStats) -> Iterator[GeneratedToken]:
    """The new tokens, as :meth:`GenerationEngine.stream` yields them: up to ``k`` proposals per round, checked
    in one target pass; ``stats`` counts the rounds. Near the end of the context fewer are proposed."""
    config.validate()
    if config.penalized:
        raise LmforgeError("speculative decoding does not apply repetition/frequency/presence penalties")
    if not config.use_cache:
        raise LmforgeError("speculative decoding needs the KV cache (it cuts rejected proposals off it)")
    if k < 1 or not prompt_ids or len(prompt_ids) + config.max_new_tokens > target.context_length:
        raise LmforgeError(f"k must be >= 1 and prompt + max_new_tokens fit the context ({target.context_length}); "
                           f"got k={k}, {len(prompt_ids)} + {config.max_new_tokens}")
    device = target.tok_emb.weight.device
    generator = seeded_generator(config.seed, device)
    t_cache = _cuttable(target.new_cache(1), "target")
    draft.keep(0)  # a new text
    ids, n_out = list(prompt_ids), 0
    while n_out < config.max_new_tokens:
        # the target's cache holds every id but the last; the proposals must fit the context after them
        proposals, qs = draft.propose(ids, min(k, target.context_length - len(ids)), config, generator)
        feed = torch.tensor([ids[t_cache.length:] + proposals], device=device)
        hidden = target.hidden(feed, t_cache)[0, -(len(proposals) + 1):]  # the positions that choose a token
        logits = target.lm_head(hidden).float()  # (len(proposals) + 1, V)
        stats.target_passes += 1
        stats.proposed += len(proposals)
        new = []
        for i, proposal in enumerate(proposals):
            token, kept = accept_or_resample(token_probs(logits[i], config), qs[i], proposal, generator)
            new.append((token, i))
            stats.accepted += kept
            if not kept:
                break
        else:  # every proposal kept (or none made): the target's last position gives one more token
            new.append((_draw(token_probs(logits[len(proposals)], config), generator), len(proposals)))
        for token, i in new:
            if token in config.stop_tokens or n_out == config.max_new_tokens:
                return
            yield describe_token(logits[i], token, config.top_logprobs)
            n_out += 1
            ids.append(token)
        t_cache.length = len(ids) - 1  # forget what was read past the kept tokens
        draft.keep(len(ids) - 1)
