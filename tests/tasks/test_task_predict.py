"""Fine-tuned task directories used on new data: ``lmforge eval task`` reproduces the score the fine-tune
wrote to task.json on the same test data, and the predictor answers with labels + probabilities, entity
character spans and answer spans."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmforge.cli.main import run
from lmforge.data.annotated import read_conll, read_squad
from lmforge.io import read_json
from lmforge.tasks.classify import finetune_classifier
from lmforge.tasks.data import read_text_labels, split_examples
from lmforge.tasks.ner import finetune_ner
from lmforge.tasks.predict import TaskPredictor
from lmforge.tasks.qa import finetune_qa, predict_answers
from lmforge.tasks.training import FinetuneConfig

DATA = Path(__file__).parents[1] / "data"
SMS = DATA / "sentiment" / "sms_spam" / "SMSSpamCollection"
CONLL_TRAIN = DATA / "wnut17" / "wnut17train_first300.conll"
CONLL_TEST = DATA / "wnut17" / "emerging.test.annotated_first200"
SQUAD = DATA / "squad_v11" / "squad_v11_dev_part1_2articles_6paras.json"
TINY = FinetuneConfig(lr=1e-3, max_steps=6, batch_size=16)


@pytest.fixture(scope="module")
def task_dirs(tmp_path_factory, wordpiece):
    """One tiny fine-tuned directory per task, with the test file it was scored on."""
    from lmforge.models.bert import Bert, BertConfig

    def bert():
        return Bert(BertConfig(vocab_size=wordpiece.vocab_size, context_length=128, d_model=32, n_layers=2,
                               n_heads=2, d_mlp=64, dropout=0.0, pretraining_heads=False))

    root = tmp_path_factory.mktemp("task_dirs")
    train, test = split_examples(read_text_labels(SMS, "1", "0", header=False)[:200], 0.25, seed=0)
    finetune_classifier(bert(), wordpiece, train, test, root / "classify", TINY, max_len=48)
    (root / "sms_test.jsonl").write_text("".join(json.dumps({"text": e.text, "label": e.label}) + "\n" for e in test))
    finetune_ner(bert(), wordpiece, read_conll(CONLL_TRAIN)[:100], read_conll(CONLL_TEST), root / "ner", TINY)
    squad = read_squad(SQUAD)
    finetune_qa(bert(), wordpiece, squad[:40], squad, root / "qa", TINY, max_len=128, stride=64)
    return {"classify": (root / "classify", root / "sms_test.jsonl"), "ner": (root / "ner", CONLL_TEST),
            "qa": (root / "qa", SQUAD)}


@pytest.mark.parametrize(("task", "keys"), [("classify", ["accuracy", "macro_f1"]), ("ner", ["precision", "f1"]),
                                            ("qa", ["exact_match", "f1"])])
def test_eval_task_reproduces_the_fine_tunes_own_score(task_dirs, capsys, task, keys):
    model_dir, data = task_dirs[task]
    assert run(["eval", "task", str(model_dir), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    recorded = read_json(model_dir / "task.json")
    for key in keys:
        assert f"{key} {recorded[key]:.4f}" in out, (key, recorded, out)


def test_classify_answers_labels_with_probabilities(task_dirs):
    predictor = TaskPredictor.load(task_dirs["classify"][0])
    out = predictor.classify(["Free entry! Win a prize now", "see you at lunch"])
    for p in out:
        assert set(p["probabilities"]) == {"ham", "spam"}
        assert sum(p["probabilities"].values()) == pytest.approx(1.0)
        assert p["label"] == max(p["probabilities"], key=p["probabilities"].get)


def test_entities_carry_their_character_spans(task_dirs, monkeypatch):
    import lmforge.tasks.predict as predict

    text = "Alice met Bob in New York, then left."
    # words: Alice met Bob in New York , then left .
    tags = ["B-person", "O", "B-person", "O", "B-location", "I-location", "O", "O", "O", "O"]
    monkeypatch.setattr(predict, "predict_tags", lambda model, codec, sentences, max_len: [tags])
    entities = TaskPredictor.load(task_dirs["ner"][0]).entities([text])[0]
    assert entities == [{"type": "person", "text": "Alice", "start": 0, "end": 5},
                        {"type": "person", "text": "Bob", "start": 10, "end": 13},
                        {"type": "location", "text": "New York", "start": 17, "end": 25}]


def test_answers_are_spans_of_the_context_and_match_the_batch_predictions(task_dirs, wordpiece):
    predictor = TaskPredictor.load(task_dirs["qa"][0])
    examples = read_squad(SQUAD)[:5]
    answers = predictor.answer([e.question for e in examples], [e.context for e in examples])
    expected = predict_answers(predictor.model, predictor.codec, examples, 128, 64)
    assert [a["answer"] for a in answers] == expected
    assert all(e.context[a["start"]:a["end"]] == a["answer"] for e, a in zip(examples, answers, strict=True))


def _one_line_error(capsys, *args) -> str:
    assert run([str(a) for a in args]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_wrong_directories_and_labels_are_one_line(task_dirs, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "hi", "label": "ham"}\n{"text": "yo", "label": "eggs"}\n')
    err = _one_line_error(capsys, "eval", "task", task_dirs["classify"][0], "--data", bad)
    assert f"{bad}: line 2: label 'eggs'" in err
    assert "expected config.json" in _one_line_error(capsys, "eval", "task", tmp_path, "--data", bad)
    lm_only = _one_line_error(capsys, "eval", "perplexity", task_dirs["classify"][0], "--data", bad)
    assert "has no language-model head" in lm_only
    with pytest.raises(Exception, match="a 'ner' model cannot classify"):
        TaskPredictor.load(task_dirs["ner"][0], "classify")


def test_eval_summarize_scores_the_models_greedy_summaries(tmp_path, capsys):
    import torch

    from lmforge.models.gpt import GPT, GPTConfig
    from lmforge.models.registry import save_model
    from lmforge.tasks.sft import load_chat_model
    from lmforge.tasks.summarize import fit_to_context, generate_summaries, read_summaries, rouge
    from lmforge.tokenizers import train_tokenizer
    from lmforge.tokenizers.chat_template import IM_END, IM_START

    records = read_summaries(DATA / "aclsum" / "test.jsonl")[:2]
    tokenizer = train_tokenizer("bpe", [r["document"] + " " + r["summary"] for r in records], vocab_size=300,
                                special_tokens=("<|endoftext|>", IM_START, IM_END))
    torch.manual_seed(0)
    save_model(GPT(GPTConfig(vocab_size=tokenizer.vocab_size, context_length=128, d_model=32, n_layers=1,
                             n_heads=2)), tmp_path / "m")
    tokenizer.save(tmp_path / "m" / "tokenizer.json")
    assert run(["eval", "summarize", str(tmp_path / "m"), "--data", str(DATA / "aclsum" / "test.jsonl"),
                "--limit", "2", "--max-new-tokens", "6"]) == 0
    model, tok, template = load_chat_model(tmp_path / "m")
    expected = rouge([r["summary"] for r in records],
                     generate_summaries(model, tok, template, fit_to_context(records, tok, template, 128 - 6), 6))
    assert capsys.readouterr().out.startswith("  ".join(f"{k} {v:.2f}" for k, v in expected.items()))
    # the same directory summarizes a document from `lmforge predict`
    document = records[0]["document"]
    assert run(["predict", str(tmp_path / "m"), document, "--max-new-tokens", "6"]) == 0
    summary = json.loads(capsys.readouterr().out)
    prompt = fit_to_context([{"document": document, "summary": ""}], tok, template, 128 - 6)
    assert summary == {"document": document, "summary": generate_summaries(model, tok, template, prompt, 6)[0]}


def test_predict_prints_one_json_line_per_input(task_dirs, tmp_path, capsys):
    classify_dir, ner_dir, qa_dir = (task_dirs[t][0] for t in ("classify", "ner", "qa"))
    assert run(["predict", str(classify_dir), "WIN a free phone"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got == {"text": "WIN a free phone", **TaskPredictor.load(classify_dir).classify(["WIN a free phone"])[0]}
    texts = tmp_path / "texts.jsonl"
    texts.write_text('{"text": "Paris is nice"}\n{"text": "I met Bob", "id": 7}\n')
    assert run(["predict", str(ner_dir), "--file", str(texts), "--out", str(tmp_path / "out.jsonl")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["text"] for r in rows] == ["Paris is nice", "I met Bob"] and rows[1]["id"] == 7
    assert [r["entities"] for r in rows] == TaskPredictor.load(ner_dir).entities(["Paris is nice", "I met Bob"])
    capsys.readouterr()
    context = read_squad(SQUAD)[0].context
    assert run(["predict", str(qa_dir), "Who?", "--context", context]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert context[answer["start"]:answer["end"]] == answer["answer"]


def test_predict_mistakes_are_one_line(task_dirs, tmp_path, capsys):
    assert "--context" in _one_line_error(capsys, "predict", task_dirs["qa"][0], "Who?")
    assert "--context is for QA" in _one_line_error(capsys, "predict", task_dirs["ner"][0], "x", "--context", "y")
    assert "either a TEXT" in _one_line_error(capsys, "predict", task_dirs["ner"][0])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"txt": "typo"}\n')
    assert f"{bad}: line 2: missing field 'text'" in _one_line_error(capsys, "predict", task_dirs["ner"][0],
                                                                      "--file", bad)


def test_report_card_of_a_task_dir_puts_the_score_beside_the_fine_tunes_own(task_dirs, tmp_path, capsys):
    model_dir, data = task_dirs["classify"]
    assert run(["report", str(model_dir), "--tasks", f"task={data}", "--out", str(tmp_path)]) == 0
    card = json.loads((tmp_path / "report.json").read_text())
    recorded = read_json(model_dir / "task.json")
    rows = {t["metric"]: t for t in card["tasks"]}
    assert rows["accuracy"]["value"] == pytest.approx(recorded["accuracy"])
    assert rows["accuracy"]["reference"] == recorded["accuracy"] and "task.json" in rows["accuracy"]["source"]
    assert card["family"] == "task (classify) on bert" and not card["text"] and not card["speed"]
