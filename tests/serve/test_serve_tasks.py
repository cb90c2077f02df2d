"""Fine-tuned task directories over HTTP: /v1/classify, /v1/ner, /v1/qa answer what the predictor answers,
with the OpenAI routes' key check, validation, error format and metrics."""

from __future__ import annotations

import httpx
import pytest
import torch

from lmforge.io import write_json
from lmforge.models.bert import Bert, BertConfig
from lmforge.models.registry import save_model
from lmforge.serve.app import ServerConfig, create_app
from lmforge.serve.task_routes import MAX_INPUTS, TaskBackend, load_backend
from lmforge.tasks.backbone import minilm_dir
from lmforge.tasks.heads import TaskConfig, TaskModel, backbone_config
from lmforge.tasks.predict import TaskPredictor
from lmforge.tokenizers import load_tokenizer

KEY = "task-key"
CONTEXT = "Marie Curie was born in Warsaw in 1867. She won two Nobel Prizes."


def _task_dir(path, task: str, labels: list[str]):
    """A random tiny BERT + head saved as `lmforge finetune` saves one (no training: plumbing only)."""
    tokenizer = load_tokenizer(minilm_dir() / "tokenizer.json")
    torch.manual_seed(0)
    bert = Bert(BertConfig(vocab_size=tokenizer.vocab_size, context_length=128, d_model=32, n_layers=1, n_heads=2,
                           d_mlp=64, dropout=0.0, pretraining_heads=False))
    kind = {"classify": "classify", "ner": "token", "qa": "qa"}[task]
    model = TaskModel(TaskConfig(backbone_config(bert), kind, labels, "mean" if task == "classify" else "none"), bert)
    with torch.no_grad():
        model.head.weight.normal_(0, 1.0)  # so the answers differ between inputs
    save_model(model, path)
    tokenizer.save(path / "tokenizer.json")
    write_json(path / "task.json", {"task": task, "max_len": 64, "stride": 32})
    return path


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("task_serve")
    return {"classify": _task_dir(root / "spam", "classify", ["ham", "spam"]),
            "ner": _task_dir(root / "tagger", "ner", ["O", "B-person", "I-person", "B-location", "I-location"]),
            "qa": _task_dir(root / "reader", "qa", ["start", "end"])}


@pytest.fixture(scope="module")
def urls(dirs, serve):
    """One server per task directory, all requiring KEY."""
    import contextlib

    with contextlib.ExitStack() as stack:
        yield {task: stack.enter_context(serve(create_app(TaskBackend(d), ServerConfig(api_key=KEY))))
               for task, d in dirs.items()}


def _post(url: str, route: str, body: dict, key: str | None = KEY) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{url}{route}", json=body, headers=headers, timeout=60)


def test_classify_answers_like_the_predictor(urls, dirs):
    texts = ["Free entry! Win a prize now", "see you at lunch"]
    r = _post(urls["classify"], "/v1/classify", {"model": "spam", "input": texts})
    assert r.status_code == 200, r.text
    expected = TaskPredictor.load(dirs["classify"]).classify(texts)
    got = r.json()
    assert got["object"] == "list" and got["model"] == "spam"
    assert [d["index"] for d in got["data"]] == [0, 1]
    for d, e in zip(got["data"], expected, strict=True):
        assert d["label"] == e["label"] and d["probabilities"] == pytest.approx(e["probabilities"])
    single = _post(urls["classify"], "/v1/classify", {"model": "spam", "input": texts[0]}).json()
    assert single["data"][0]["probabilities"] == pytest.approx(expected[0]["probabilities"])


def test_ner_and_qa_answer_with_character_spans(urls, dirs):
    text = "Marie Curie moved from Warsaw to Paris."
    r = _post(urls["ner"], "/v1/ner", {"model": "tagger", "input": [text]})
    assert r.status_code == 200, r.text
    entities = r.json()["data"][0]["entities"]
    assert entities == TaskPredictor.load(dirs["ner"]).entities([text])[0]
    assert all(text[e["start"]:e["end"]] == e["text"] for e in entities)
    r = _post(urls["qa"], "/v1/qa", {"model": "reader", "question": "Where was she born?", "context": CONTEXT})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["object"] == "answer" and CONTEXT[answer["start"]:answer["end"]] == answer["answer"] != ""
    expected = TaskPredictor.load(dirs["qa"]).answer(["Where was she born?"], [CONTEXT])[0]
    assert answer["answer"] == expected["answer"] and answer["score"] == pytest.approx(expected["score"])


def test_a_context_without_any_span_gets_an_empty_answer_not_a_server_error(urls):
    """A blank context tokenizes to nothing: no span qualifies, the score is null (JSON has no -inf)."""
    r = _post(urls["qa"], "/v1/qa", {"model": "reader", "question": "Where was she born?", "context": "   "})
    assert r.status_code == 200, r.text
    assert (r.json()["answer"], r.json()["score"]) == ("", None)


@pytest.mark.parametrize(("task", "route", "body", "status", "words"), [
    ("classify", "/v1/classify", {"model": "nope", "input": "x"}, 404, "does not exist"),
    ("classify", "/v1/classify", {"model": "spam", "input": ""}, 400, "'input'"),
    ("classify", "/v1/classify", {"model": "spam", "input": ["x"] * (MAX_INPUTS + 1)}, 400, "'input'"),
    ("classify", "/v1/classify", {"model": "spam", "input": "x", "temperature": 1}, 400, "temperature"),
    ("qa", "/v1/qa", {"model": "reader", "question": "why?"}, 400, "'context'"),
    ("classify", "/v1/ner", {"model": "spam", "input": "x"}, 400, "serves POST /v1/classify"),
    ("ner", "/v1/chat/completions", {"model": "tagger", "messages": [{"role": "user", "content": "hi"}]}, 400,
     "cannot generate text; it serves POST /v1/ner"),
])
def test_bad_requests_get_openai_style_errors(urls, task, route, body, status, words):
    r = _post(urls[task], route, body)
    assert r.status_code == status, r.text
    assert words in r.json()["error"]["message"]


def test_key_and_metrics_apply_as_on_the_openai_routes(urls):
    assert _post(urls["classify"], "/v1/classify", {"model": "spam", "input": "x"}, key=None).status_code == 401
    assert _post(urls["classify"], "/v1/classify", {"model": "spam", "input": "x"}).status_code == 200
    metrics = httpx.get(f"{urls['classify']}/metrics", timeout=30).text
    assert 'lmforge_requests_total{route="/v1/classify",status="200"}' in metrics
    assert 'lmforge_requests_total{route="/v1/classify",status="401"}' in metrics


def test_a_language_model_server_refuses_task_routes(server_url, dirs, model_dir):
    r = httpx.post(f"{server_url}/v1/classify", json={"model": "tiny-chat", "input": "x"}, timeout=30)
    assert r.status_code == 400 and "not a fine-tuned 'classify' model" in r.json()["error"]["message"]
    assert isinstance(load_backend(dirs["qa"], None, lambda: None), TaskBackend)
    assert load_backend(model_dir, None, lambda: "lm") == "lm"
