"""Task data readers: real files parse, malformed ones fail naming file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmforge.data.annotated import read_conll, read_squad
from lmforge.errors import DataError
from lmforge.tasks.data import read_jsonl, read_text_labels, split_examples, split_squad_by_article

DATA = Path(__file__).parents[1] / "data"
WNUT_TRAIN = DATA / "wnut17" / "wnut17train_first300.conll"
SQUAD = DATA / "squad_v11" / "squad_v11_dev_part1_2articles_6paras.json"
SMS = DATA / "sentiment" / "sms_spam" / "SMSSpamCollection"


def test_real_files_parse():
    sentences = read_conll(WNUT_TRAIN)
    assert len(sentences) == 300  # the train file separates sentences with tab-only lines
    assert sentences[0].tokens[:2] == ["@paulwalk", "It"] and sentences[0].tags[14:17] == [
        "B-location", "I-location", "I-location"]
    questions = read_squad(SQUAD)
    assert len(questions) == 164 and questions[0].title == "Super_Bowl_50"
    train, test = split_squad_by_article(questions, 1)
    assert {q.title for q in test} == {"Warsaw"} and not {q.context for q in train} & {q.context for q in test}
    sms = read_text_labels(SMS, "1", "0", header=False)
    assert len(sms) == 5574 and {e.label for e in sms} == {"ham", "spam"}
    train_sms, test_sms = split_examples(sms, 0.2, seed=0)
    assert len(test_sms) == round(0.2 * 4827) + round(0.2 * 747)


def test_jsonl_errors_name_line_and_field(tmp_path):
    good = tmp_path / "d.jsonl"
    good.write_text('{"text": "hi", "label": 1}\n\n{"text": "yo", "label": "b"}\n', encoding="utf-8")
    assert [(e.text, e.label, e.line) for e in read_text_labels(good)] == [("hi", "1", 1), ("yo", "b", 3)]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "hi", "label": 1}\n{"text": "yo", "label": \n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.jsonl: line 2, column \d+: invalid JSON"):
        read_text_labels(bad)
    bad.write_text('{"text": "hi", "label": 1}\n{"txt": "yo", "label": 2}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"line 2: missing field 'text'"):
        read_text_labels(bad)
    bad.write_text('{"text": 5, "label": 1}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"line 1: field 'text' should be a str, got int"):
        read_jsonl(bad, {"text": str})


def test_csv_errors_come_from_the_shared_reader(tmp_path):
    bad = tmp_path / "d.csv"
    bad.write_text("text,label\nhello,pos\nonly-one-field\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"d.csv: line 3: column 'label' missing"):
        read_text_labels(bad)


def test_conll_errors(tmp_path):
    bad = tmp_path / "x.conll"
    bad.write_text("Paris\tB-location\nis\tO\n\nnice\tB-\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"x.conll: line 4: tag 'B-' is not BIO"):
        read_conll(bad)
    bad.write_text("Paris\tB-location\nlonely\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"line 2: expected 'token<TAB>tag'"):
        read_conll(bad)


def test_squad_errors_name_the_json_path(tmp_path):
    doc = {"data": [{"title": "t", "paragraphs": [{"context": "Paris is big.", "qas": [
        {"id": "1", "question": "What?", "answers": [{"text": "Paris", "answer_start": 1}]}]}]}]}
    path = tmp_path / "s.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(DataError, match=r"data\[0\]\.paragraphs\[0\]\.qas\[0\]\.answers\[0\]: answer_start 1"):
        read_squad(path)
    del doc["data"][0]["paragraphs"][0]["qas"][0]["question"]
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(DataError, match=r"qas\[0\]: missing field 'question'"):
        read_squad(path)
