"""Multiple choice by log-likelihood equals lm-eval-harness run on the same items through its custom-task
mechanism (HellaSwag's preprocessing, ARC's prompt, acc, acc_norm), and bad item files are one line."""

import json
import random
import string

import pytest
import torch

from lmforge.cli.main import run
from lmforge.evaluate.choice import ChoiceResult, score_choices
from lmforge.evaluate.choice_items import hellaswag_clean, read_choice_items
from lmforge.interop.convert import export_hf_dir
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.registry import save_model
from lmforge.tokenizers import train_tokenizer

WORDS = ["the", "man", "woman", "dog", "cat", "runs", "jumps", "sits", "on", "a", "ball", "table", "chair", "then",
         "picks", "up", "throws", "water", "pours", "cup", "question", "answer", "which", "is", "red", "blue", "green",
         "small", "large", "sun", "moon", "rises", "sets"]


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _hellaswag_items(rng: random.Random, n: int) -> list[dict]:
    items = []
    for _ in range(n):
        endings = [_sentence(rng, rng.randint(2, 9)) + "." for _ in range(4)]
        endings[0] = "[step] " + endings[0]  # WikiHow artifacts that lm-eval's preprocessing removes
        items.append({"activity_label": _sentence(rng, 2).capitalize(), "ctx_a": _sentence(rng, 6) + " [title] x.",
                      "ctx_b": _sentence(rng, 3), "endings": endings, "label": str(rng.randrange(4))})
    return items


def _arc_items(rng: random.Random, n: int) -> list[dict]:
    items = []
    for _ in range(n):
        labels = list("ABCD") if rng.random() < 0.5 else list("1234")
        items.append({"question": _sentence(rng, 6) + "?", "answerKey": rng.choice(labels),
                      "choices": {"text": [_sentence(rng, rng.randint(1, 5)) for _ in labels], "label": labels}})
    return items


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A random GPT with a byte-level BPE trained on the items' words, as an lmforge dir."""
    path = tmp_path_factory.mktemp("choice_model")
    tokenizer = train_tokenizer("bpe", [" ".join(WORDS) + " Question: Answer: [title] [step] ?." * 3],
                                vocab_size=300)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, context_length=128, d_model=32, n_layers=2, n_heads=4))
    with torch.no_grad():  # larger than the 0.02 init, so the choices' log-likelihoods differ clearly
        for p in model.parameters():
            p.normal_(0, 0.3)
    save_model(model, path)
    tokenizer.save(path / "tokenizer.json")
    return path


_TASKS = {
    "lmf_hellaswag": 'process_docs: !function lmf_utils.process_docs\ndoc_to_text: "{{query}}"\n'
                     'doc_to_target: "{{label}}"\ndoc_to_choice: "choices"\n',
    "lmf_arc": 'doc_to_text: "Question: {{question}}\\nAnswer:"\n'
               'doc_to_target: "{{choices.label.index(answerKey)}}"\ndoc_to_choice: "{{choices.text}}"\n',
}


def _lm_eval(hf_dir, task_dir, files: dict) -> dict:
    """lm-eval's own run over our files: per task, its per-document log-likelihoods, acc and acc_norm."""
    lm_eval = pytest.importorskip("lm_eval")
    from lm_eval.tasks import TaskManager

    # lm-eval's own HellaSwag preprocessing, through its custom-task function hook
    (task_dir / "lmf_utils.py").write_text("from lm_eval.tasks.hellaswag.utils import process_docs  # noqa: F401\n")
    for task, path in files.items():
        (task_dir / f"{task}.yaml").write_text(
            f"task: {task}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    validation: {path}\n"
            "output_type: multiple_choice\nvalidation_split: validation\n" + _TASKS[task]
            + "metric_list:\n  - metric: acc\n  - metric: acc_norm\n")
    out = lm_eval.simple_evaluate(model="hf", model_args={"pretrained": str(hf_dir), "dtype": "float32"},
                                  tasks=list(files), task_manager=TaskManager(include_path=str(task_dir)),
                                  batch_size=8, device="cpu", log_samples=True)
    return {task: sorted(out["samples"][task], key=lambda s: s["doc_id"]) for task in files}


@pytest.mark.slow  # lm-eval's own run: ~35 s on a loaded 2-core machine
def test_equals_lm_eval_on_hellaswag_and_arc_items(model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf_cache"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rng = random.Random(0)
    files = {"lmf_hellaswag": _write_jsonl(tmp_path / "hellaswag.jsonl", _hellaswag_items(rng, 24)),
             "lmf_arc": _write_jsonl(tmp_path / "arc.jsonl", _arc_items(rng, 16))}
    export_hf_dir(model_dir, tmp_path / "hf")
    (tmp_path / "tasks").mkdir()
    reference = _lm_eval(tmp_path / "hf", tmp_path / "tasks", files)
    for task, path in files.items():
        status = run(["eval", "choice", str(model_dir), "--data", str(path), "--batch-size", "5",
                      "--out", str(tmp_path / f"{task}.out.jsonl")])
        assert status == 0
        ours = [json.loads(line) for line in (tmp_path / f"{task}.out.jsonl").read_text().splitlines()]
        theirs = reference[task]
        assert len(ours) == len(theirs) == len(read_choice_items(path))
        for mine, ref in zip(ours, theirs, strict=True):
            ref_lls = [float(r[0]) for r in ref["filtered_resps"]]
            assert mine["loglikelihoods"] == pytest.approx(ref_lls, abs=1e-4)
            assert float(mine["pred"] == mine["gold"]) == ref["acc"]
            assert float(mine["pred_norm"] == mine["gold"]) == ref["acc_norm"]
        # both accuracies differ somewhere, so the test can tell acc from acc_norm
    assert any(r["acc"] != r["acc_norm"] for task in files for r in reference[task])


def test_hellaswag_preprocessing_and_prompt():
    assert hellaswag_clean(" Cooking: a man [title] Cut it. [step] Then ") == "Cooking: a man. Cut it. Then"
    assert hellaswag_clean("a.  [step]  b") == "a.  b"  # one pass of the double-space fold, as lm-eval's


def test_schemas_are_read_into_prompts(tmp_path):
    rows = [{"activity_label": "Cooking", "ctx_a": "A man cuts.", "ctx_b": "he then", "endings": ["a", "b [step]"],
             "label": "1"},
            {"question": "Why?", "choices": {"text": ["x", "y", "z"], "label": ["A", "B", "C"]}, "answerKey": "C"},
            {"context": "2 + 2 =", "choices": ["4", "5"], "answer": 0}]
    items = read_choice_items(_write_jsonl(tmp_path / "mixed.jsonl", rows))
    assert [(i.context, i.choices, i.gold) for i in items] == [
        ("Cooking: A man cuts. He then", ["a", "b "], 1),  # lm-eval strips before it drops brackets
        ("Question: Why?\nAnswer:", ["x", "y", "z"], 2),
        ("2 + 2 =", ["4", "5"], 0)]
    assert len(read_choice_items(tmp_path / "mixed.jsonl", limit=2)) == 2


def test_acc_norm_divides_by_characters_and_batching_changes_nothing():
    """A model that likes token 1 everywhere: the long choice wins on the sum only when normalised."""
    class Likes1(torch.nn.Module):
        def forward(self, ids):  # (B, T) -> (B, T, 3)
            return torch.tensor([0.0, 0.5, 0.0]).expand(*ids.shape, 3)

    encode = lambda text: [1 if c == "a" else 2 for c in text]  # noqa: E731  one token per character
    from lmforge.evaluate.choice_items import ChoiceItem

    items = [ChoiceItem("q", ["aaaaaaaa", "b"], 0, 1), ChoiceItem("q", ["b", "aaaaaaaa"], 0, 2)]
    one = score_choices(Likes1(), encode, items, context_length=32, batch_size=1)
    many = score_choices(Likes1(), encode, items, context_length=32, batch_size=16)
    assert [v for s in one.items for v in s.loglikelihoods] == pytest.approx(
        [v for s in many.items for v in s.loglikelihoods])
    assert [(s.pred, s.pred_norm) for s in one.items] == [(1, 0), (0, 1)]
    assert isinstance(one, ChoiceResult) and one.acc == 0.5 and one.acc_norm == 0.5


def _one_line_error(capsys, *args) -> str:
    assert run([str(a) for a in args]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(("row", "expected"), [
    ({"context": "c", "choices": ["a", "b"], "answer": 2}, "must be an index 0..1"),
    ({"context": "c", "choices": ["a", " "], "answer": 0}, "choice 1 is empty"),
    ({"activity_label": "x", "ctx": "c", "endings": ["a", "b"], "label": ""}, "'label' must be an index"),
    ({"question": "q", "choices": {"text": ["a", "b"], "label": ["A", "B"]}, "answerKey": "E"}, "answerKey 'E'"),
    ({"prompt": "c", "answers": ["a"]}, "neither a HellaSwag item"),
])
def test_bad_items_are_one_line_naming_file_and_line(tmp_path, capsys, model_dir, row, expected):
    path = _write_jsonl(tmp_path / "bad.jsonl", [{"context": "fine", "choices": ["a", "b"], "answer": 0}, row])
    err = _one_line_error(capsys, "eval", "choice", model_dir, "--data", path)
    assert f"{path}: line 2" in err and expected in err


def test_a_model_that_cannot_generate_is_refused(tmp_path, capsys):
    from lmforge.models.bert import Bert, BertConfig

    save_model(Bert(BertConfig(vocab_size=100, context_length=16, d_model=32, n_layers=1, n_heads=2, d_mlp=64)),
               tmp_path / "bert")
    train_tokenizer("char", string.printable).save(tmp_path / "bert" / "tokenizer.json")
    path = _write_jsonl(tmp_path / "ok.jsonl", [{"context": "c", "choices": ["a", "b"], "answer": 0}])
    assert "cannot generate text" in _one_line_error(capsys, "eval", "choice", tmp_path / "bert", "--data", path)
