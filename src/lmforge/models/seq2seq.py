"""Encoder-decoder RNN for translation, with optional attention (Bahdanau 2015, Luong 2015).

The encoder reads the source into one vector per word (the *memory*); the
decoder writes the target one word at a time. Without attention, the decoder
sees the source only through a fixed summary (the encoder's final state), so a
long sentence must squeeze into one vector. With attention, at every step the
decoder scores each memory vector, softmaxes the scores into weights that sum
to 1, and reads their weighted average (the *context*):

    score_j = score(query, memory_j)          for each source position j
    a = softmax(score)                        (padding positions get weight 0)
    context = sum_j a_j * memory_j

    bahdanau (additive):  score = v . tanh(W_q query + W_k memory_j)
    dot (Luong):          score = query . memory_j / sqrt(H)
    general (Luong):      score = query . (W memory_j) / sqrt(H)

Bahdanau's query is the decoder state *before* the step and the context is fed
into the RNN; Luong's query is the state *after* the step. Either way the output
is ``logits = W_out tanh(W_c [h; context])``. The no-attention model uses the
same output layer with the fixed summary as its context, so the only difference
between the two is whether the context is attended or fixed.

The recurrent cells are ``torch.nn.GRU`` / ``torch.nn.LSTM``; an LSTM's state is
the pair (h, c), everything else handles both through :func:`map_state`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lmforge.errors import ConfigError
from lmforge.models.base import Capability, ModelBase, check_dropout, check_positive

FAMILY = "seq2seq"
Cell = Literal["gru", "lstm"]
AttentionKind = Literal["bahdanau", "dot", "general", "none"]
State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]  # GRU: h (L, B, H); LSTM: (h, c)


@dataclass
class Seq2SeqConfig:
    src_vocab_size: int = 4000
    tgt_vocab_size: int = 6000
    emb_dim: int = 256
    hidden_size: int = 256
    n_layers: int = 1
    cell: Cell = "gru"
    bidirectional: bool = True  # encoder reads the source both ways; memory_j then sees the whole sentence
    attention: AttentionKind = "bahdanau"
    attention_dim: int | None = None  # additive attention's inner width (default hidden_size)
    dropout: float = 0.2
    teacher_forcing_ratio: float = 1.0  # chance of feeding the true previous word (else the model's own guess)
    max_target_len: int = 50
    pad_id: int = 0
    bos_id: int = 2
    eos_id: int = 3

    def validate(self) -> None:
        check_positive(self, "src_vocab_size", "tgt_vocab_size", "emb_dim", "hidden_size", "n_layers",
                       "max_target_len")
        check_dropout(self)
        if not 0.0 <= self.teacher_forcing_ratio <= 1.0:
            raise ConfigError(f"Seq2SeqConfig.teacher_forcing_ratio must be in [0, 1], got "
                              f"{self.teacher_forcing_ratio}")
        if self.cell not in ("gru", "lstm"):
            raise ConfigError(f"Seq2SeqConfig.cell must be 'gru' or 'lstm', got {self.cell!r}")
        if self.attention not in ("bahdanau", "dot", "general", "none"):
            raise ConfigError(f"Seq2SeqConfig.attention must be bahdanau, dot, general or none, got {self.attention!r}")


def map_state(state: State, fn: Callable[[torch.Tensor], torch.Tensor]) -> State:
    """Apply ``fn`` to a GRU state or to both halves of an LSTM state."""
    return tuple(fn(s) for s in state) if isinstance(state, tuple) else fn(state)  # type: ignore[return-value]


def top_hidden(state: State) -> torch.Tensor:
    """The last layer's hidden vector h, (B, H): the decoder's current 'thought'."""
    h = state[0] if isinstance(state, tuple) else state
    return h[-1]


def _rnn(cell: Cell, input_size: int, c: Seq2SeqConfig, bidirectional: bool = False) -> nn.RNNBase:
    rnn_class = nn.GRU if cell == "gru" else nn.LSTM
    return rnn_class(input_size, c.hidden_size, num_layers=c.n_layers, batch_first=True,
                     bidirectional=bidirectional, dropout=c.dropout if c.n_layers > 1 else 0.0)


# ----------------------------------------------------------------------------- attention
class Attention(nn.Module):
    """Score each memory position against a query, softmax, and average the memory.

    ``prepare`` runs once per source sentence (it projects the memory into
    *keys*); ``forward`` runs at every decoder step.
    """

    def prepare(self, memory: torch.Tensor) -> torch.Tensor:
        return memory  # (B, S, H)

    def score(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, query: torch.Tensor, keys: torch.Tensor, memory: torch.Tensor,
                mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """query (B, T, H), keys (B, S, K), memory (B, S, H), mask (B, S) True = real word.

        Returns context (B, T, H) and weights (B, T, S), each row summing to 1.
        """
        scores = self.score(query, keys)  # (B, T, S)
        scores = scores.masked_fill(~mask[:, None, :], float("-inf"))  # padding: exp(-inf) = 0 weight
        weights = scores.softmax(dim=-1)  # (B, T, S)
        return weights @ memory, weights  # (B, T, S) @ (B, S, H) -> (B, T, H)


class AdditiveAttention(Attention):
    """Bahdanau: a one-hidden-layer network scores each (query, memory_j) pair."""

    def __init__(self, hidden: int, inner: int) -> None:
        super().__init__()
        self.w_query = nn.Linear(hidden, inner, bias=False)
        self.w_key = nn.Linear(hidden, inner)
        self.v = nn.Linear(inner, 1, bias=False)

    def prepare(self, memory: torch.Tensor) -> torch.Tensor:
        return self.w_key(memory)  # (B, S, A): the source half of the sum, computed once

    def score(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        q = self.w_query(query)  # (B, T, A)
        hidden = torch.tanh(q[:, :, None, :] + keys[:, None, :, :])  # (B, T, S, A)
        return self.v(hidden).squeeze(-1)  # (B, T, S)


class DotAttention(Attention):
    """Luong dot: score = query . memory_j / sqrt(H) (no parameters).

    Why the 1/sqrt(H) (Luong et al. had none; Vaswani et al. added it): a dot
    product of two H-wide vectors grows like sqrt(H), so unscaled scores of a
    256-wide GRU pushed the softmax to one-hot early in training (eng-fra, 5 minutes). Its gradient
    then vanished and the attention froze on one source word for every
    output word, after which the model translated from that word's (bi-
    directional, whole-sentence) encoding as if there were no attention at all.
    """

    def score(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        return query @ keys.transpose(1, 2) / math.sqrt(query.size(-1))  # (B, T, H) @ (B, H, S) -> (B, T, S)


class GeneralAttention(DotAttention):
    """Luong general: score = query . (W memory_j) / sqrt(H), a learned bilinear form."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.w = nn.Linear(hidden, hidden, bias=False)

    def prepare(self, memory: torch.Tensor) -> torch.Tensor:
        return self.w(memory)  # (B, S, H)


def make_attention(c: Seq2SeqConfig) -> Attention | None:
    if c.attention == "bahdanau":
        return AdditiveAttention(c.hidden_size, c.attention_dim or c.hidden_size)
    if c.attention == "dot":
        return DotAttention()
    if c.attention == "general":
        return GeneralAttention(c.hidden_size)
    return None


# ----------------------------------------------------------------------------- encoder / decoder
@dataclass
class Encoded:
    """What the decoder needs from the source, computed once per sentence."""

    memory: torch.Tensor  # (B, S, H) one vector per source word
    keys: torch.Tensor  # (B, S, K) memory prepared for the attention score
    mask: torch.Tensor  # (B, S) True where there is a word, False on padding
    summary: torch.Tensor  # (B, 1, H) fixed context for the no-attention model

    def repeat(self, n: int) -> Encoded:
        """One sentence (B = 1) seen by n beam hypotheses."""
        return Encoded(*(t.expand(n, *t.shape[1:]) for t in (self.memory, self.keys, self.mask, self.summary)))


class Encoder(nn.Module):
    def __init__(self, c: Seq2SeqConfig) -> None:
        super().__init__()
        directions = 2 if c.bidirectional else 1
        self.n_layers, self.directions = c.n_layers, directions
        self.embed = nn.Embedding(c.src_vocab_size, c.emb_dim, padding_idx=c.pad_id)
        self.rnn = _rnn(c.cell, c.emb_dim, c, bidirectional=c.bidirectional)
        self.to_memory = nn.Linear(directions * c.hidden_size, c.hidden_size)  # all memory vectors have size H
        self.bridge = nn.Linear(directions * c.hidden_size, c.hidden_size)  # final encoder state -> decoder start
        self.dropout = nn.Dropout(c.dropout)

    def forward(self, src: torch.Tensor, src_lens: torch.Tensor) -> tuple[torch.Tensor, State]:
        """src (B, S) -> memory (B, S, H) and the decoder's initial state (L, B, H)."""
        x = self.dropout(self.embed(src))  # (B, S, E)
        # packing makes the RNN stop at each sentence's true end, so padding never enters the final state
        packed = pack_padded_sequence(x, src_lens.cpu(), batch_first=True, enforce_sorted=False)
        outputs, final = self.rnn(packed)
        outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=src.size(1))  # (B, S, D*H)
        return self.to_memory(outputs), map_state(final, self._bridge)

    def _bridge(self, final: torch.Tensor) -> torch.Tensor:
        """(L*D, B, H), layer-major with directions inside -> (L, B, H) via tanh(W [h_fwd; h_bwd])."""
        LD, B, H = final.shape
        per_layer = final.view(self.n_layers, self.directions, B, H).permute(0, 2, 1, 3)  # (L, B, D, H)
        return torch.tanh(self.bridge(per_layer.reshape(self.n_layers, B, self.directions * H)))


class Decoder(nn.Module):
    def __init__(self, c: Seq2SeqConfig) -> None:
        super().__init__()
        self.kind = c.attention
        self.embed = nn.Embedding(c.tgt_vocab_size, c.emb_dim, padding_idx=c.pad_id)
        feeds_context = c.attention == "bahdanau"  # Bahdanau's RNN reads [word; context]
        self.rnn = _rnn(c.cell, c.emb_dim + (c.hidden_size if feeds_context else 0), c)
        self.attention = make_attention(c)
        self.combine = nn.Linear(2 * c.hidden_size, c.hidden_size)  # h~ = tanh(W_c [h; context])
        self.out = nn.Linear(c.hidden_size, c.tgt_vocab_size)
        self.dropout = nn.Dropout(c.dropout)

    def forward(self, y: torch.Tensor, state: State,
                enc: Encoded) -> tuple[torch.Tensor, State, torch.Tensor | None]:
        """Run T steps on known input words y (B, T).

        Returns logits (B, T, V), the new state, and attention weights (B, T, S)
        (None without attention). Luong and no-attention decoders run the RNN over
        all T words in one call; Bahdanau's query is the state before each step,
        so it must go one step at a time.
        """
        x = self.dropout(self.embed(y))  # (B, T, E)
        if self.kind == "bahdanau":
            outputs, contexts, weights = [], [], []
            for t in range(y.size(1)):
                context, w = self.attention(top_hidden(state)[:, None], enc.keys, enc.memory, enc.mask)  # (B, 1, H)
                h, state = self.rnn(torch.cat([x[:, t : t + 1], context], dim=-1), state)  # (B, 1, H)
                outputs.append(h), contexts.append(context), weights.append(w)
            h, context, attn = torch.cat(outputs, 1), torch.cat(contexts, 1), torch.cat(weights, 1)
        else:
            h, state = self.rnn(x, state)  # (B, T, H)
            if self.attention is None:
                context, attn = enc.summary.expand_as(h), None
            else:
                context, attn = self.attention(h, enc.keys, enc.memory, enc.mask)  # (B, T, H), (B, T, S)
        h_tilde = torch.tanh(self.combine(torch.cat([h, context], dim=-1)))  # (B, T, H)
        return self.out(self.dropout(h_tilde)), state, attn


class Seq2Seq(ModelBase):
    """The encoder-decoder; :mod:`lmforge.infer.seq2seq` decodes it through the ``EncoderDecoder`` methods below."""

    family = FAMILY
    config_class = Seq2SeqConfig
    capabilities = frozenset({Capability.SEQ2SEQ})

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)

    def encode(self, src: torch.Tensor, src_lens: torch.Tensor) -> tuple[Encoded, State]:
        memory, state = self.encoder(src, src_lens)
        mask = src != self.config.pad_id  # (B, S)
        keys = memory if self.decoder.attention is None else self.decoder.attention.prepare(memory)
        return Encoded(memory, keys, mask, top_hidden(state)[:, None]), state

    def forward(self, src: torch.Tensor, src_lens: torch.Tensor, tgt_in: torch.Tensor,
                teacher_forcing_ratio: float | None = None) -> torch.Tensor:
        """Logits (B, T, V) for every target position.

        With teacher forcing the decoder reads the true previous word; otherwise
        its own best guess, as it must at translation time. Training mixes both
        with probability ``teacher_forcing_ratio`` per step and sentence, so the
        model learns to recover from its own mistakes. Evaluation uses 1.0.
        """
        ratio = teacher_forcing_ratio if teacher_forcing_ratio is not None else (
            self.config.teacher_forcing_ratio if self.training else 1.0)
        enc, state = self.encode(src, src_lens)
        if ratio >= 1.0:
            return self.decoder(tgt_in, state, enc)[0]
        logits, word = [], tgt_in[:, :1]  # (B, 1) <s>
        for t in range(tgt_in.size(1)):
            step_logits, state, _ = self.decoder(word, state, enc)  # (B, 1, V)
            logits.append(step_logits)
            if t + 1 < tgt_in.size(1):
                use_truth = torch.rand(src.size(0), 1, device=src.device) < ratio
                word = torch.where(use_truth, tgt_in[:, t + 1 : t + 2], step_logits.argmax(-1))
        return torch.cat(logits, dim=1)

    # ------------------------------------------------------------------ EncoderDecoder, for infer.seq2seq
    @property
    def decoder_start_id(self) -> int:
        return self.config.bos_id

    def length_limit(self, src_len: int) -> int:
        """Translations rarely exceed twice the source length; the hard cap is the config's max_target_len."""
        return min(self.config.max_target_len, 2 * src_len + 10)

    def start_decoding(self, src: torch.Tensor, src_lens: torch.Tensor | None,
                       max_steps: int) -> tuple[Encoded, State]:
        """The encoder's output and the decoder's first state (an RNN state does not grow with ``max_steps``)."""
        if src_lens is None:
            src_lens = torch.full((src.size(0),), src.size(1))
        return self.encode(src, src_lens)

    def decode_step(self, words: torch.Tensor, state: State,
                    memory: Encoded) -> tuple[torch.Tensor, State, torch.Tensor | None]:
        logits, state, attn = self.decoder(words[:, None], state, memory)  # words (N,) -> logits (N, 1, V)
        return logits[:, 0].float().log_softmax(-1), state, None if attn is None else attn[:, 0]

    def select_rows(self, state: State, rows: torch.Tensor) -> State:
        return map_state(state, partial(torch.index_select, dim=1, index=rows))  # (L, N, H) -> (L, len(rows), H)

    def repeat_memory(self, memory: Encoded, n: int) -> Encoded:
        return memory.repeat(n)


def seq2seq_loss(model: nn.Module, batch) -> torch.Tensor:
    """Mean cross-entropy (nats/target word) over real target positions; padding is ignored."""
    src, src_lens, tgt_in, tgt_out = batch
    logits = model(src, src_lens, tgt_in)  # (B, T, V)
    return F.cross_entropy(logits.flatten(0, 1).float(), tgt_out.flatten(), ignore_index=model.config.pad_id)
