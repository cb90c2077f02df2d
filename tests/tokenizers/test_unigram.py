"""The Unigram tokenizer: SentencePiece-style tokenizer.json files (Precompiled nmt_nfkc normalizer, Metaspace,
byte fallback), built here with ``sentencepiece`` + HF ``tokenizers`` since none ship offline, encode to the ids
HF ``tokenizers`` gives on the whole bundled corpus; lmforge's own Unigram training (EM + pruning) gives files HF
reads identically and about as few tokens as SentencePiece's trainer at the same vocabulary size."""

from __future__ import annotations

import io

import pytest

from lmforge.assets import tinyshakespeare_path
from lmforge.errors import ConfigError
from lmforge.tokenizers import HFTokenizer, load_tokenizer, train_tokenizer
from lmforge.tokenizers.unigram import UnigramModel

tokenizers = pytest.importorskip("tokenizers")
spm = pytest.importorskip("sentencepiece")
from sentencepiece import sentencepiece_model_pb2  # noqa: E402

UNICODE = ["Ｈｅｌｌｏ ﬁne  world ① ½ café Ⅻ\u3000x", "naïve ﬀ ㌀ Å e\u0301 👍🏽 \u200b z", "tab\there\r\nx",
           "日本語のテキスト", "  lead and trail  ", "ROMEO: ‘Tis ﬁt — “quoted” … ²³"]


def corpus() -> list[str]:
    return tinyshakespeare_path().read_text(encoding="utf-8").splitlines()


def sentencepiece_file(tmp_path, lines: list[str], vocab_size: int, byte_fallback: bool = False):
    """A T5/ALBERT-style tokenizer.json: a SentencePiece Unigram model with its nmt_nfkc charsmap."""
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=buffer, vocab_size=vocab_size,
                                   model_type="unigram", normalization_rule_name="nmt_nfkc",
                                   byte_fallback=byte_fallback, num_threads=1, minloglevel=2)
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(buffer.getvalue())
    models, normalizers, pre_tokenizers, decoders = (tokenizers.models, tokenizers.normalizers,
                                                     tokenizers.pre_tokenizers, tokenizers.decoders)
    tok = tokenizers.Tokenizer(models.Unigram([(p.piece, p.score) for p in proto.pieces],
                                              unk_id=proto.trainer_spec.unk_id, byte_fallback=byte_fallback))
    tok.normalizer = normalizers.Sequence([normalizers.Precompiled(proto.normalizer_spec.precompiled_charsmap),
                                           normalizers.Replace(tokenizers.Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Metaspace(replacement="▁")]) \
        if byte_fallback else decoders.Metaspace(replacement="▁")
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    return path, tok


def test_sentencepiece_unigram_file_gives_hf_ids_on_the_bundled_corpus(tmp_path):
    lines = corpus()
    path, hf = sentencepiece_file(tmp_path, lines[:8000], 800)
    ours = load_tokenizer(path)
    assert isinstance(ours, HFTokenizer) and isinstance(ours.model, UnigramModel)
    texts = lines + UNICODE
    expected = [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]
    got = ours.encode_batch(texts)
    assert got == expected, next((t, g, e) for t, g, e in zip(texts, got, expected, strict=True) if g != e)
    assert ours.normalizer(UNICODE[0]) == hf.normalizer.normalize_str(UNICODE[0]) == "Hello fine world 1 1⁄2 café XII x"
    assert ours.decode(got[100]) == hf.decode(expected[100])


def test_byte_fallback_unigram_encodes_unseen_characters_as_bytes(tmp_path):
    path, hf = sentencepiece_file(tmp_path, corpus()[:3000], 500, byte_fallback=True)
    ours = load_tokenizer(path)
    texts = [*UNICODE, "Fair Verona, 🌹 ∮ ελληνικά"]
    assert ours.encode_batch(texts) == [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]
    ids = ours.encode("🌹")
    assert [ours.id_to_token(i) for i in ids][-4:] == ["<0xF0>", "<0x9F>", "<0x8C>", "<0xB9>"]
    assert ours.decode(ids) == hf.decode(ids) == "🌹"


def test_lmforge_unigram_training_matches_hf_and_compresses_like_sentencepiece(tmp_path):
    lines = corpus()
    train, held_out = lines[:2000], lines[30000:30600]
    ours = train_tokenizer("unigram", train, vocab_size=300, special_tokens=("<s>", "</s>"))
    assert ours.vocab_size == 300 and [ours.id_to_token(i) for i in range(3)] == ["<unk>", "<s>", "</s>"]
    ours.save(tmp_path / "ours.json")
    hf = tokenizers.Tokenizer.from_file(str(tmp_path / "ours.json"))
    texts = [*held_out, "Ｑｕｅｅｎ ☃ Mab"]
    got = ours.encode_batch(texts)
    assert got == [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]
    assert all(ours.decode(ids) == " ".join(t.split()) for ids, t in zip(got[:-1], held_out, strict=True))
    assert ours.id_to_token(got[-1][1]) == "<unk>"  # characters never seen in training
    # the baseline: SentencePiece's own Unigram trainer, same text, same vocabulary size, no normalization
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(train), model_writer=buffer, vocab_size=300,
                                   model_type="unigram", normalization_rule_name="identity", num_threads=1,
                                   minloglevel=2)
    reference = spm.SentencePieceProcessor(model_proto=buffer.getvalue())
    ours_tokens = sum(map(len, got[:-1]))
    reference_tokens = sum(len(reference.encode(t)) for t in held_out)
    assert ours_tokens < 1.05 * reference_tokens, (ours_tokens, reference_tokens)


def test_bad_unigram_files_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="list of \\[piece, score\\] pairs"):
        UnigramModel.from_spec({"type": "Unigram", "vocab": {"a": 1}}, "t.json")
    with pytest.raises(ConfigError, match="unk_id 5 is outside"):
        UnigramModel([("a", -1.0)], unk_id=5)
    doc = {"model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0], ["a", -1.0]]},
           "normalizer": {"type": "Precompiled", "precompiled_charsmap": "not base64!"}}
    with pytest.raises(ConfigError, match="precompiled_charsmap is not valid base64"):
        HFTokenizer(doc, "t.json")
    with pytest.raises(ConfigError, match="vocab_size 10 is below"):
        train_tokenizer("unigram", ["abcdefghijklmnop"], vocab_size=10)
