"""NER: BIO labels aligned to sub-words, predictions read back per word, scored like seqeval."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmforge.data.annotated import read_conll
from lmforge.evaluate.seqeval_like import entity_report
from lmforge.tasks.codec import Codec
from lmforge.tasks.ner import IGNORE, encode_sentence, finetune_ner, predict_tags, spacy_tags, tag_set
from lmforge.tasks.training import FinetuneConfig

DATA = Path(__file__).parents[1] / "data" / "wnut17"
TRAIN = DATA / "wnut17train_first300.conll"
TEST = DATA / "emerging.test.annotated_first200"


def test_labels_sit_on_each_words_first_piece(wordpiece):
    codec = Codec.for_tokenizer(wordpiece)
    words, tags = ["#ESB", "Empire", "unaffable"], [1, 2, 0]
    enc = encode_sentence(codec, words, tags, max_len=32)
    pieces = [wordpiece.id_to_token(i) for i in enc.ids]
    assert pieces[0] == "[CLS]" and pieces[-1] == "[SEP]"
    assert [pieces[p] for p in enc.first_piece] == ["#", "empire", "una"]
    assert [enc.labels[p] for p in enc.first_piece] == tags
    assert sum(label != IGNORE for label in enc.labels) == 3  # continuation pieces and specials are ignored


def test_truncated_words_are_predicted_outside(wordpiece, tiny_bert):
    from lmforge.tasks.heads import TaskConfig, TaskModel, backbone_config

    codec = Codec.for_tokenizer(wordpiece)
    words = ["word"] * 20
    assert len(encode_sentence(codec, words, None, max_len=8).first_piece) == 6
    model = TaskModel(TaskConfig(backbone_config(tiny_bert), "token", ["O", "B-x", "I-x"]), tiny_bert)
    assert predict_tags(model, codec, [words], max_len=8)[0][6:] == ["O"] * 14


def test_tag_set_has_both_prefixes_per_type():
    sentences = read_conll(TRAIN)
    tags = tag_set(sentences)
    assert tags[0] == "O" and len(tags) == 13 and "I-corporation" in tags


def test_finetune_ner_runs_and_scores_like_seqeval(wordpiece, tiny_bert, tmp_path):
    train, test = read_conll(TRAIN), read_conll(TEST)[:40]
    result = finetune_ner(tiny_bert, wordpiece, train, test, tmp_path, FinetuneConfig(lr=1e-3, max_steps=15,
                                                                                        batch_size=16))
    assert [len(p) for p in result.predictions] == [len(s.tokens) for s in test]
    seqeval = pytest.importorskip("seqeval.metrics")
    assert result.scores.f1 == pytest.approx(seqeval.f1_score([s.tags for s in test], result.predictions), abs=1e-12)
    assert (tmp_path / "tokenizer.json").is_file() and (tmp_path / "model.safetensors").is_file()


@pytest.mark.filterwarnings("ignore")
def test_entity_f1_equals_seqeval_on_real_spacy_predictions():
    pytest.importorskip("spacy")
    seqeval = pytest.importorskip("seqeval.metrics")
    gold = read_conll(TEST)
    predicted = spacy_tags([s.tokens for s in gold])
    y_true = [s.tags for s in gold]
    ours = entity_report(y_true, predicted)
    assert ours.f1 == pytest.approx(seqeval.f1_score(y_true, predicted), abs=1e-12)
    assert ours.precision == pytest.approx(seqeval.precision_score(y_true, predicted), abs=1e-12)
    assert ours.recall == pytest.approx(seqeval.recall_score(y_true, predicted), abs=1e-12)
    assert 0.05 < ours.f1 < 0.6  # spaCy small finds some WNUT entities, far from all
