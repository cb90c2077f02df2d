"""lmforge's own BERT pieces: normalizer, pre-tokenizers, WordPiece model and trainer, against HF `tokenizers`."""

from __future__ import annotations

import pytest

from lmforge.errors import ConfigError, DataError
from lmforge.tokenizers import load_tokenizer
from lmforge.tokenizers.normalizers import bert_normalize, build_normalizer
from lmforge.tokenizers.pre_tokenizers import bert_pre_tokenize, build_pre_tokenizer, split
from lmforge.tokenizers.subword_models import WordPieceModel
from lmforge.tokenizers.wordpiece import bert_tokenizer_json, train_wordpiece

tokenizers = pytest.importorskip("tokenizers")
from tokenizers import normalizers, pre_tokenizers  # noqa: E402

ODD = [
    "Héllo\tWörld\r\n\x00\x07\ufffd\u200b\u00ad\u2028x\x1fy\x85z",
    "北京 東京 서울 テスト ﬁ Straße ΣΑΣ İI ǅ",
    "e\u0301 a\u0308 n\u0303 Å Ω",
    "$5 + 3 = <8> | ^_^ ~ `x` @home #1 ¿qué? «guillemets» — dash…",
]


@pytest.mark.parametrize("lowercase", [True, False])
@pytest.mark.parametrize("strip", [None, True, False])
def test_bert_normalizer_matches_hf(lowercase, strip):
    hf = normalizers.BertNormalizer(lowercase=lowercase, strip_accents=strip)
    for text in ODD:
        assert bert_normalize(text, strip_accents_=strip, lowercase_=lowercase) == hf.normalize_str(text), text


@pytest.mark.parametrize("spec", [
    {"type": "NFKC"}, {"type": "NFD"}, {"type": "Lowercase"},
    {"type": "Sequence", "normalizers": [{"type": "NFD"}, {"type": "StripAccents"}]},
    {"type": "Strip", "strip_left": True, "strip_right": False},
    {"type": "Replace", "pattern": {"Regex": r"\s+"}, "content": "_"},
    {"type": "Prepend", "prepend": "▁"},
])
def test_normalizers_match_hf(spec):
    import json

    hf = tokenizers.Tokenizer.from_str(json.dumps({"version": "1.0", "model": {"type": "WordLevel", "vocab": {"a": 0},
                                                                                "unk_token": "a"},
                                                   "normalizer": spec})).normalizer
    ours = build_normalizer(spec, "test")
    for text in [*ODD, "  padded  ", ""]:
        assert ours(text) == hf.normalize_str(text), (spec, text)


@pytest.mark.parametrize("make", [
    lambda: pre_tokenizers.BertPreTokenizer(),
    lambda: pre_tokenizers.Whitespace(),
    lambda: pre_tokenizers.WhitespaceSplit(),
    lambda: pre_tokenizers.Punctuation("contiguous"),
    lambda: pre_tokenizers.Digits(individual_digits=True),
    lambda: pre_tokenizers.Metaspace(prepend_scheme="always"),
    lambda: pre_tokenizers.ByteLevel(add_prefix_space=True),
    lambda: pre_tokenizers.Split(" ", "merged_with_previous"),
    lambda: pre_tokenizers.Split(tokenizers.Regex(r"\d+"), "removed", invert=True),
], ids=["bert", "whitespace", "wsplit", "punct", "digits", "metaspace", "bytelevel", "merged_prev", "invert"])
def test_pre_tokenizers_match_hf(make):
    import json

    hf = make()
    spec = json.loads(hf.__getstate__()) if hasattr(hf, "__getstate__") else None
    ours = build_pre_tokenizer(spec, "test")
    for text in [*ODD, "a--b,,c 12 345!", "  two  spaces  "]:
        assert ours(text, True) == [p for p, _ in hf.pre_tokenize_str(text)], text


def test_split_behaviors_by_hand():
    import regex

    dash = regex.compile("-")
    assert split("a-b--c", dash, "Removed") == ["a", "b", "c"]
    assert split("a-b--c", dash, "Isolated") == ["a", "-", "b", "-", "-", "c"]
    assert split("a-b--c", dash, "Contiguous") == ["a", "-", "b", "--", "c"]
    assert split("a-b--c", dash, "MergedWithPrevious") == ["a-", "b-", "-", "c"]
    assert split("a-b--c", dash, "MergedWithNext") == ["a", "-b", "-", "-c"]
    with pytest.raises(ConfigError, match="behavior 'Sideways' is unknown"):
        split("a", dash, "Sideways")


def test_wordpiece_greedy_longest_match_first():
    vocab = {t: i for i, t in enumerate(["[UNK]", "un", "##aff", "##able", "una", "##ffa", "##ble", "u", "##n"])}
    model = WordPieceModel(vocab, max_chars=10)
    assert model.encode_word("unaffable") == (vocab["una"], vocab["##ffa"], vocab["##ble"])  # longest first
    assert model.encode_word("unx") == (0,)  # one unmatchable piece: the whole word is [UNK]
    assert model.encode_word("unaffableee") == (0,)  # longer than max_chars
    assert model.encode_word("un") == (vocab["un"],)


def test_trainer_vocab_is_exact_and_covers_the_corpus(corpus, tmp_path):
    text = corpus[:100_000]
    tok = train_wordpiece(text, 600)
    assert tok.vocab_size == 600 and tok.id_to_token(0) == "[PAD]"
    ids = tok.encode(text)
    assert tok.token_to_id("[UNK]") not in ids  # every training word is spellable
    n_chars = sum(map(len, bert_pre_tokenize(text)))  # one id per (non-space) character without merges
    assert len(ids) < 0.9 * n_chars
    assert train_wordpiece(text, 600).encode(text) == ids  # deterministic
    tok.save(tmp_path / "tokenizer.json")
    hf = tokenizers.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert hf.encode(corpus[100_000:120_000], add_special_tokens=False).ids == load_tokenizer(tmp_path).encode(
        corpus[100_000:120_000])


def test_trainer_and_vocab_errors():
    with pytest.raises(DataError, match="empty"):
        train_wordpiece(" \n ", 100)
    with pytest.raises(ConfigError, match="smaller than"):
        train_wordpiece("abcdefghij", 8)
    with pytest.raises(ConfigError, match=r"missing \['\[MASK\]'\]"):
        bert_tokenizer_json({"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3})
