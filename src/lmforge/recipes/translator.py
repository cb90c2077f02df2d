"""A translator = a :class:`Seq2Seq` model + its two word vocabularies + a truecaser, saved as one directory.

    MODEL_DIR/config.json         {"family": "seq2seq", ...}
    MODEL_DIR/model.safetensors   weights
    MODEL_DIR/vocab.json          {"source": [words...], "target": [words...], "truecase": {word: Form}}

It turns text into text (normalise, look up ids, decode, restore capitals,
detokenise), scores a set of pairs with cased and lowercased BLEU, and draws the
attention weights as a heatmap. Directories saved before the truecaser existed
(no ``"truecase"`` key) are refused with a one-line error: they would print
lowercase French.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from lmforge.data.pairs import Pair, Truecaser, detokenize, references_by_source, tokenize
from lmforge.data.seq2seq_batches import Vocab
from lmforge.devices import module_device
from lmforge.errors import ConfigError, DataError
from lmforge.evaluate.bleu import BleuScores
from lmforge.infer.seq2seq import Hypothesis, beam_search, greedy_decode, greedy_decode_many
from lmforge.io import pyplot, read_json, save_png, write_json
from lmforge.models.registry import load_model, save_model
from lmforge.models.seq2seq import Seq2Seq

VOCAB_FILE = "vocab.json"


@dataclass
class Translation:
    text: str  # cased, detokenised
    tokens: list[str]  # output words with their capitals restored, without </s>
    source_tokens: list[str]  # the normalised source words the model read (unknown ones as <unk>)
    log_prob: float
    attention: torch.Tensor | None  # (output steps incl. </s>, source words); None without attention


class Translator:
    def __init__(self, model: Seq2Seq, source_vocab: Vocab, target_vocab: Vocab, truecaser: Truecaser) -> None:
        c = model.config
        if (c.src_vocab_size, c.tgt_vocab_size) != (len(source_vocab), len(target_vocab)):
            raise ConfigError(f"vocabulary sizes {len(source_vocab)}/{len(target_vocab)} do not match the model's "
                              f"{c.src_vocab_size}/{c.tgt_vocab_size}")
        self.model, self.source_vocab, self.target_vocab = model.eval(), source_vocab, target_vocab
        self.truecaser = truecaser

    # ------------------------------------------------------------------ files
    def save(self, directory: str | Path) -> None:
        save_model(self.model, directory)
        save_vocabs(directory, self.source_vocab, self.target_vocab, self.truecaser)

    @classmethod
    def load(cls, directory: str | Path, device: torch.device | None = None) -> Translator:
        """A translator directory, its model on ``device`` (None: CPU)."""
        model = load_model(directory) if device is None else load_model(directory).to(device)
        if not isinstance(model, Seq2Seq):
            raise ConfigError(f"{directory} holds a {model.family!r} model, not a seq2seq translator")
        path = Path(directory) / VOCAB_FILE
        raw = read_json(path, "translator vocabulary (vocab.json)")
        if not isinstance(raw, dict) or not {"source", "target"} <= set(raw):
            raise ConfigError(f"{path}: expected keys 'source' and 'target'")
        if not isinstance(raw.get("truecase"), dict):
            raise ConfigError(f"{path}: saved by an older lmforge that wrote lowercase French (no 'truecase' "
                              f"table); retrain it with `lmforge translate-train`")
        return cls(model, Vocab(raw["source"]), Vocab(raw["target"]), Truecaser(raw["truecase"]))

    # ------------------------------------------------------------------ translating
    def _source_ids(self, text: str) -> list[int]:
        ids = self.source_vocab.encode(tokenize(text))
        if not ids:
            raise DataError(f"nothing to translate in {text!r} (no words after normalisation)")
        return ids

    def _to_translation(self, ids: list[int], hyp: Hypothesis) -> Translation:
        words = self.truecaser(self.target_vocab.decode(hyp.tokens))
        return Translation(detokenize(words), words, self.source_vocab.decode(ids), hyp.log_prob, hyp.attention)

    def translate(self, text: str, beam_size: int = 1, length_penalty: float = 0.0) -> Translation:
        """Greedy decoding for ``beam_size=1``, else beam search."""
        if beam_size < 1:
            raise ConfigError(f"beam size must be at least 1, got {beam_size}")
        ids = self._source_ids(text)
        src = torch.tensor([ids], device=module_device(self.model))  # (1, S); the decoders follow src's device
        if beam_size == 1:
            hyp = greedy_decode(self.model, src, torch.tensor([len(ids)]), self.model.config.eos_id,
                                self.model.length_limit)[0]
        else:
            hyp = beam_search(self.model, src, self.model.config.eos_id, self.model.length_limit, beam_size,
                              length_penalty)[0]
        return self._to_translation(ids, hyp)

    def translate_many(self, texts: Sequence[str], beam_size: int = 1, length_penalty: float = 0.0,
                       batch_size: int = 128) -> list[Translation]:
        """Translate a list; greedy decoding runs whole batches at once."""
        if beam_size > 1:
            return [self.translate(t, beam_size, length_penalty) for t in texts]
        sources = [self._source_ids(t) for t in texts]
        c = self.model.config
        hyps = greedy_decode_many(self.model, sources, c.pad_id, c.eos_id, self.model.length_limit, batch_size)
        return [self._to_translation(ids, h) for ids, h in zip(sources, hyps, strict=True)]

    def bleu(self, pairs: Sequence[Pair], beam_size: int = 1, length_penalty: float = 0.0) -> BleuScores:
        """Corpus BLEU over the distinct sources of ``pairs``, all their original translations as references."""
        sources, references = references_by_source(pairs)
        hypotheses = [t.text for t in self.translate_many(sources, beam_size, length_penalty)]
        return BleuScores.of(hypotheses, references)


def save_vocabs(directory: str | Path, source: Vocab, target: Vocab, truecaser: Truecaser) -> None:
    write_json(Path(directory) / VOCAB_FILE,
               {"source": source.words, "target": target.words, "truecase": truecaser.forms})


def plot_attention(translation: Translation, path: str | Path) -> None:
    """Heatmap of the attention weights: one row per output word (and </s>), one column per source word."""
    if translation.attention is None:
        raise ConfigError("this model has no attention (it was trained with attention='none'): nothing to plot")
    plt = pyplot()

    weights = translation.attention.cpu().numpy()
    rows = [*translation.tokens, "</s>"][: weights.shape[0]]
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * weights.shape[1], 1.0 + 0.5 * weights.shape[0]))
    image = ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(weights.shape[1]), translation.source_tokens, rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    fig.colorbar(image, ax=ax, fraction=0.05, label="attention weight")
    fig.tight_layout()
    save_png(fig, path, dpi=120)
