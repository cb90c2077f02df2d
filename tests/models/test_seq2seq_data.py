"""Pair files, normalisation, truecasing, the fixed split, references, vocabularies and batches for translation."""

import re
from pathlib import Path

import pytest

from lmforge.data.pairs import (
    Pair,
    Truecaser,
    detokenize,
    load_pairs,
    normalize,
    references_by_source,
    split_pairs,
    tokenize,
)
from lmforge.data.seq2seq_batches import PairBatches, Vocab, collate
from lmforge.errors import ConfigError, DataError

ENG_FRA = Path(__file__).parents[1] / "data" / "eng_fra" / "eng-fra_first20k_train.txt"


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "pairs.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_loads_the_real_file_with_line_numbers():
    pairs = load_pairs(ENG_FRA)
    assert len(pairs) == 17_689
    assert pairs[0] == Pair("Go.", "Va !", 1)
    assert pairs[-1].line == 17_689
    assert len(load_pairs(ENG_FRA, limit=10)) == 10


def test_skips_blank_lines_and_accepts_an_attribution_column(tmp_path):
    pairs = load_pairs(write(tmp_path, "Hi.\tSalut.\n\nRun!\tCours !\tCC-BY 2.0 (France) Attribution\n"))
    assert pairs == [Pair("Hi.", "Salut.", 1), Pair("Run!", "Cours !", 3)]


@pytest.mark.parametrize(("text", "message"), [
    ("Hi.\tSalut.\nRun! Cours !\n", "line 2: expected 'source<TAB>target' but found no tab"),
    ("Hi.\tSalut.\n\n\t Salut.\n", "line 3: the source (column 1) is empty"),
    ("Hi.\t  \n", "line 1: the target (column 2) is empty"),
    ("Hi.\tSalut.\ta\tb\n", "line 1: expected 2 tab-separated columns (or 3 with an attribution), found 4"),
    ("\n\n", "no sentence pairs found"),
])
def test_malformed_files_name_the_line(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(DataError, match=re.escape(message)) as info:
        load_pairs(path)
    assert str(path) in str(info.value)


def test_non_utf8_and_missing_files_are_data_errors(tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("Café\tcafé\n".encode("latin-1"))
    with pytest.raises(DataError, match="byte offset 3"):
        load_pairs(bad)
    with pytest.raises(DataError, match="not found"):
        load_pairs(tmp_path / "nope.txt")


def test_normalisation_and_tokenisation_round_trip():
    assert normalize("À L\u2019aide\u202f!") == "à l'aide !"
    assert tokenize("As-tu vu l'homme\u202f?") == ["as", "-", "tu", "vu", "l'", "homme", "?"]
    for text in ["Qu'est-ce que c'est ?", "Je n'ai pas faim.", "Il est 5 h, non ?", "I don't know."]:
        assert detokenize(tokenize(text)) == normalize(text)
        assert detokenize(tokenize(text, lowercase=False)) == normalize(text, lowercase=False) == text


def test_truecaser_restores_sentence_capitals_and_proper_nouns():
    sentences = ["Je vois Tom.", "Tom est là. Il dort.", "Où est Paris ?", "Il habite à Paris.", "Dis-le à Tom !"]
    truecaser = Truecaser.learn(tokenize(s, lowercase=False) for s in sentences)
    assert truecaser.forms == {"tom": "Tom", "paris": "Paris"}  # "il", "où", "je": only capitalised at a start
    assert truecaser(tokenize("je vois tom. où est paris ? l'homme dort")) == \
        ["Je", "vois", "Tom", ".", "Où", "est", "Paris", "?", "L'", "homme", "dort"]
    assert detokenize(truecaser(tokenize("à paris, il y a tom."))) == "À Paris, il y a Tom."
    assert truecaser([]) == []


def test_truecaser_learned_from_the_real_training_targets_recovers_the_references():
    split = split_pairs(load_pairs(ENG_FRA, limit=5000))
    truecaser = Truecaser.learn(tokenize(p.target, lowercase=False) for p in split.train)
    targets = [normalize(p.target, lowercase=False) for p in split.test]
    restored = [detokenize(truecaser(tokenize(t))) for t in targets]
    assert sum(r == t for r, t in zip(restored, targets, strict=True)) / len(targets) > 0.97


def test_split_is_deterministic_and_keeps_each_source_in_one_part():
    pairs = load_pairs(ENG_FRA, limit=3000)
    split = split_pairs(pairs, dev=0.1, test=0.1, seed=0)
    assert split == split_pairs(pairs, dev=0.1, test=0.1, seed=0)
    assert split != split_pairs(pairs, dev=0.1, test=0.1, seed=1)
    assert len(split.train) + len(split.dev) + len(split.test) == len(pairs)
    parts = [{normalize(p.source) for p in part} for part in (split.train, split.dev, split.test)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    n_sources = sum(map(len, parts))
    assert abs(len(parts[2]) - 0.1 * n_sources) <= 1 and abs(len(parts[1]) - 0.1 * n_sources) <= 1
    with pytest.raises(DataError, match="sum to < 1"):
        split_pairs(pairs, dev=0.5, test=0.5)


def test_references_group_all_original_translations_of_a_source():
    pairs = [Pair("Hi.", "Salut.", 1), Pair("Run!", "Cours\u202f!", 2), Pair("hi.", "Bonjour, Tom.", 3)]
    sources, refs = references_by_source(pairs)
    assert sources == ["hi.", "run!"]
    assert refs == [["Salut.", "Bonjour, Tom."], ["Cours\u202f!"]]  # as written: BLEU is scored cased


def test_vocab_and_batches():
    vocab = Vocab.build([["le", "chat"], ["le", "chien"]], min_freq=1)
    assert vocab.words[:5] == ["<pad>", "<unk>", "<s>", "</s>", "le"]
    assert vocab.encode(["le", "zèbre"]) == [4, Vocab.unk_id]
    assert Vocab.build([["le", "chat"], ["le"]], min_freq=2).words[4:] == ["le"]
    with pytest.raises(ConfigError, match="special tokens"):
        Vocab(["a", "b"])
    batch = collate([([5, 6, 7], [8]), ([5], [9, 10])])
    assert batch.src.tolist() == [[5, 6, 7], [5, 0, 0]]
    assert batch.src_lens.tolist() == [3, 1]
    assert batch.tgt_in.tolist() == [[2, 8, 0], [2, 9, 10]]
    assert batch.tgt_out.tolist() == [[8, 3, 0], [9, 10, 3]]


def test_pair_batches_resume_exactly_and_cover_every_example():
    examples = [([i + 4], [i + 4]) for i in range(10)]
    batches = PairBatches(examples, batch_size=4, seed=3)
    seen = [b.src[:, 0].tolist() for b in (batches.next_batch() for _ in range(3))]
    assert sorted(sum(seen, [])) == list(range(4, 14))  # one epoch = every example once (4 + 4 + 2)
    state = batches.state_dict()
    expected = [batches.next_batch().src.tolist() for _ in range(4)]
    resumed = PairBatches(examples, batch_size=4, seed=3)
    resumed.load_state_dict(state)
    assert [resumed.next_batch().src.tolist() for _ in range(4)] == expected
