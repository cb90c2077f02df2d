"""Byte-level BPE: HF parity, GPT-2 reference vectors, special tokens, loading and errors."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from lmforge.errors import ConfigError, DataError, LmforgeError
from lmforge.tokenizers import ByteLevelBPE, CharTokenizer, load_tokenizer

GPT2_DIR = Path(__file__).resolve().parents[1] / "data" / "gpt2_tokenizer"
tokenizers = pytest.importorskip("tokenizers")


def reference_cases() -> list[dict]:
    lines = (GPT2_DIR / "reference_encodings.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


# ----------------------------------------------------------------- GPT-2
@pytest.mark.parametrize("case", reference_cases(), ids=lambda c: repr(c["text"][:30]))
def test_gpt2_reference_vectors(gpt2, case):
    allowed = case.get("allowed_special", "none")
    assert gpt2.encode(case["text"], allowed) == case["ids"]
    assert gpt2.decode(case["ids"]) == case["text"]


def test_gpt2_matches_hf_on_whole_corpus(gpt2, hf_gpt2, corpus):
    ours = gpt2.encode(corpus)
    assert len(ours) == 338_025  # a regression anchor: HF and tiktoken give this count too
    assert ours == hf_gpt2.encode(corpus).ids


def test_gpt2_shape(gpt2):
    assert gpt2.vocab_size == 50257
    assert gpt2.eos_id == 50256
    assert len(gpt2.merges) == 50000


def test_gpt2_batch_matches_single(gpt2, corpus_lines):
    lines = corpus_lines[:500]
    assert gpt2.encode_batch(lines) == [gpt2.encode(line) for line in lines]


# ------------------------------------------------------- trained BPE <-> HF
def test_trained_bpe_hf_parity_on_whole_corpus(trained_bpe, corpus, tmp_path):
    path = tmp_path / "tokenizer.json"
    trained_bpe.save(path)
    hf = tokenizers.Tokenizer.from_file(str(path))
    ours = trained_bpe.encode(corpus)
    assert hf.encode(corpus).ids == ours
    assert hf.get_vocab_size() == trained_bpe.vocab_size
    assert hf.decode(ours[:5000]) == trained_bpe.decode(ours[:5000])
    assert trained_bpe.decode(ours) == corpus


def test_trained_bpe_reload_is_identical(trained_bpe, corpus, tmp_path):
    trained_bpe.save(tmp_path)  # a folder: writes tmp_path/tokenizer.json
    loaded = load_tokenizer(tmp_path)
    assert isinstance(loaded, ByteLevelBPE)
    assert loaded.merges == trained_bpe.merges
    assert loaded.special_tokens == trained_bpe.special_tokens
    assert loaded.encode(corpus[:100_000]) == trained_bpe.encode(corpus[:100_000])
    assert loaded.to_hf_json() == trained_bpe.to_hf_json()


def test_hf_special_token_parity(trained_bpe, tmp_path):
    trained_bpe.save(tmp_path / "tokenizer.json")
    hf = tokenizers.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    text = "First Citizen:<|endoftext|>Second  Citizen!\n\n<|endoftext|>"
    assert trained_bpe.encode(text, allowed_special="all") == hf.encode(text).ids


def test_hf_json_is_structurally_gpt2_style(trained_bpe):
    doc = trained_bpe.to_hf_json()
    assert doc["model"]["type"] == "BPE"
    assert doc["pre_tokenizer"]["type"] == "ByteLevel" and doc["pre_tokenizer"]["use_regex"] is True
    assert doc["decoder"]["type"] == "ByteLevel"
    assert doc["added_tokens"][0]["content"] == "<|endoftext|>" and doc["added_tokens"][0]["special"]
    assert doc["model"]["merges"][0].count(" ") == 1


# ------------------------------------------------------- loading HF files
@pytest.fixture(scope="module")
def hf_gpt2_json(hf_gpt2, tmp_path_factory):
    path = tmp_path_factory.mktemp("hfgpt2") / "tokenizer.json"
    hf_gpt2.save(str(path))
    return path


def test_load_hf_written_gpt2_json(hf_gpt2_json, gpt2, corpus):
    loaded = load_tokenizer(hf_gpt2_json)
    assert isinstance(loaded, ByteLevelBPE)
    assert loaded.special_tokens == {"<|endoftext|>": 50256}
    assert loaded.merges == gpt2.merges
    assert loaded.encode(corpus[:50_000]) == gpt2.encode(corpus[:50_000])


def test_load_hf_trained_bpe_matches_hf_on_corpus(corpus, tmp_path):
    """A BPE trained by HF's BpeTrainer (specials first, its own id order) encodes identically."""
    hf = tokenizers.Tokenizer(tokenizers.models.BPE())
    hf.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=700,
        special_tokens=["<|endoftext|>", "<|pad|>"],
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    hf.train_from_iterator([corpus], trainer)
    hf.save(str(tmp_path / "tokenizer.json"))
    ours = load_tokenizer(tmp_path)
    assert ours.special_tokens == {"<|endoftext|>": 0, "<|pad|>": 1}
    assert ours.vocab_size == hf.get_vocab_size() == 700
    assert ours.encode(corpus) == hf.encode(corpus).ids
    text = "<|pad|>Hello<|endoftext|>"
    assert ours.encode(text, allowed_special="all") == hf.encode(text).ids


def test_pickle_round_trip(trained_bpe):
    clone = pickle.loads(pickle.dumps(trained_bpe))
    text = "Thou art a villain, sir!"
    assert clone.encode(text) == trained_bpe.encode(text)
    assert clone.decode(clone.encode(text)) == text


def test_load_legacy_string_merges(hf_gpt2_json, tmp_path):
    doc = json.loads(hf_gpt2_json.read_text(encoding="utf-8"))
    doc["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in doc["model"]["merges"]]
    (tmp_path / "tokenizer.json").write_text(json.dumps(doc), encoding="utf-8")
    assert load_tokenizer(tmp_path).encode("Hello world") == [15496, 995]


def test_load_missing_file(tmp_path):
    with pytest.raises(DataError, match="tokenizer file not found.*nope.json"):
        load_tokenizer(tmp_path / "nope.json")
    with pytest.raises(DataError, match="not found"):
        load_tokenizer(tmp_path)  # a folder without tokenizer.json


def test_load_unsupported_model_type(tmp_path):
    tok = tokenizers.Tokenizer(tokenizers.models.Unigram([("a", -1.0), ("b", -2.0)]))
    tok.save(str(tmp_path / "tokenizer.json"))
    doc = json.loads((tmp_path / "tokenizer.json").read_text())
    (tmp_path / "tokenizer.json").write_text(json.dumps({**doc, "model": {**doc["model"], "type": "Phoneme"}}))
    with pytest.raises(ConfigError, match="model type 'Phoneme' is not supported; supported: BPE, WordPiece"):
        load_tokenizer(tmp_path)


def test_load_unsupported_pretokenizer(tmp_path):
    tok = tokenizers.Tokenizer(tokenizers.models.BPE({"a": 0}, []))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.UnicodeScripts()
    tok.save(str(tmp_path / "tokenizer.json"))
    with pytest.raises(ConfigError, match="pre_tokenizer 'UnicodeScripts' is not supported"):
        load_tokenizer(tmp_path)


def test_byte_level_class_rejects_behaviour_changing_options(trained_bpe, tmp_path):
    """ByteLevelBPE refuses what it cannot reproduce; load_tokenizer then runs the general pipeline."""
    doc = trained_bpe.to_hf_json()
    doc["model"]["ignore_merges"] = True
    (tmp_path / "a.json").write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ConfigError, match="ignore_merges = True is not supported"):
        ByteLevelBPE.load(tmp_path / "a.json")
    doc = trained_bpe.to_hf_json()
    doc["normalizer"] = {"type": "NFC"}
    (tmp_path / "b.json").write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ConfigError, match="normalizer 'NFC' is not supported"):
        ByteLevelBPE.load(tmp_path / "b.json")
    for name in ("a.json", "b.json"):
        hf = tokenizers.Tokenizer.from_file(str(tmp_path / name))
        text = "Cafe\u0301 the thee, ROMEO!"
        assert load_tokenizer(tmp_path / name).encode(text) == hf.encode(text).ids


def test_load_invalid_json(tmp_path):
    (tmp_path / "tokenizer.json").write_text('{"model": ', encoding="utf-8")
    with pytest.raises(DataError, match="line 1, column .*invalid JSON"):
        load_tokenizer(tmp_path)


def test_bad_gpt2_merges_file(tmp_path):
    (tmp_path / "vocab.bpe").write_text("#version: 0.2\nĠ t\nthree parts here\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="vocab.bpe: line 3: expected two tokens"):
        ByteLevelBPE.from_gpt2_files(GPT2_DIR / "encoder.json", tmp_path / "vocab.bpe")


def test_duplicate_merge_takes_last_rank_like_hf(tmp_path):
    vocab = {bytes([b]): b for b in range(256)} | {b"ab": 256, b"bc": 257}
    tok = ByteLevelBPE(vocab, [(b"a", b"b"), (b"b", b"c"), (b"a", b"b")])
    assert tok.encode("abc") == [ord("a"), 257]  # (b, c) outranks the re-listed (a, b)
    tok.save(tmp_path / "tokenizer.json")
    doc = json.loads((tmp_path / "tokenizer.json").read_text(encoding="utf-8"))
    doc["model"]["merges"] = ["a b", "b c", "a b"]
    (tmp_path / "tokenizer.json").write_text(json.dumps(doc), encoding="utf-8")
    hf = tokenizers.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert hf.encode("abc abcb").ids == tok.encode("abc abcb") == load_tokenizer(tmp_path).encode("abc abcb")


def test_vocab_without_all_bytes_is_rejected():
    with pytest.raises(ConfigError, match="all 256 single bytes"):
        ByteLevelBPE({b"a": 0}, [])


# --------------------------------------------------------- special tokens
def test_special_tokens_allowed_vs_not(gpt2):
    text = "hi<|endoftext|>"
    as_text = gpt2.encode(text)
    assert 50256 not in as_text and gpt2.decode(as_text) == text
    assert gpt2.encode(text, allowed_special="all") == [*gpt2.encode("hi"), 50256]
    assert gpt2.encode(text, allowed_special={"<|endoftext|>"}) == [*gpt2.encode("hi"), 50256]
    assert gpt2.encode(text, allowed_special=set()) == as_text
    with pytest.raises(LmforgeError, match="not special tokens"):
        gpt2.encode(text, allowed_special={"<|im_start|>"})


def test_several_special_tokens_only_allowed_ones_split(corpus):
    tok = ByteLevelBPE.train(corpus[:50_000], 300, special_tokens=["<|a|>", "<|b|>"])
    ids = tok.encode("x<|a|>y<|b|>", allowed_special={"<|b|>"})
    assert ids[-1] == tok.special_tokens["<|b|>"]
    assert tok.special_tokens["<|a|>"] not in ids
    assert tok.decode(ids) == "x<|a|>y<|b|>"


# ------------------------------------------------------------------ decode
def test_decode_bad_ids(gpt2):
    with pytest.raises(LmforgeError, match=r"token id 50257 at position 1 .*valid ids are 0\.\.50256"):
        gpt2.decode([15496, 50257])
    with pytest.raises(LmforgeError, match="token id -1 at position 0"):
        gpt2.decode([-1])
    with pytest.raises(LmforgeError, match="token id 'x'"):
        gpt2.decode(["x"])


def test_decode_partial_utf8_is_replaced(gpt2):
    ids = gpt2.encode("😉")
    assert len(ids) > 1
    assert gpt2.decode(ids[:1]) == "\ufffd"
    assert gpt2.decode_bytes(ids) == "😉".encode()


def test_decode_accepts_array_like(gpt2):
    class FakeTensor:
        def tolist(self):
            return [15496, 995]

    assert gpt2.decode(FakeTensor()) == "Hello world"


def test_lone_surrogate_is_a_clear_error(gpt2):
    with pytest.raises(LmforgeError, match="lone surrogate U\\+D800"):
        gpt2.encode("a\ud800b")


def test_char_json_is_not_loaded_as_bpe(tmp_path):
    CharTokenizer.train("abc").save(tmp_path / "tokenizer.json")
    with pytest.raises(ConfigError, match="pre_tokenizer None is not supported"):
        ByteLevelBPE.load(tmp_path)
