"""Serving, sampling and chatting with any model directory either works or is refused in one line.

A T5 (encoder-decoder) directory is refused everywhere: it would otherwise pass a "has a KV cache"
check and reach the decoder-only engine. A BERT directory serves /v1/embeddings only, and is refused
by ``lmforge sample`` and ``lmforge chat``.
"""

import subprocess
import sys

import httpx
import pytest
import torch

from lmforge.errors import ConfigError
from lmforge.models.bert import Bert, BertConfig
from lmforge.models.bigram import BigramConfig, BigramLM
from lmforge.models.registry import save_model
from lmforge.models.t5 import T5, T5Config
from lmforge.serve.app import create_app
from lmforge.serve.backend import ModelBackend
from lmforge.tokenizers import train_tokenizer

TEXT = "the cat sat on the mat. the dog sat on the log. " * 20


def _model_dir(path, make_model):
    tokenizer = train_tokenizer("wordpiece", TEXT, vocab_size=60)
    torch.manual_seed(0)
    save_model(make_model(tokenizer.vocab_size), path)
    tokenizer.save(path / "tokenizer.json")
    return path


@pytest.fixture(scope="module")
def t5_dir(tmp_path_factory):
    return _model_dir(tmp_path_factory.mktemp("t5") / "t5", lambda v: T5(T5Config(
        vocab_size=v, d_model=16, d_head=4, d_mlp=32, n_layers=1, n_heads=4, dropout=0.0)))


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    return _model_dir(tmp_path_factory.mktemp("bert") / "bert", lambda v: Bert(BertConfig(
        vocab_size=v, context_length=32, d_model=16, n_layers=1, n_heads=2, d_mlp=32, dropout=0.0)))


def test_a_t5_directory_is_refused_by_the_server(t5_dir):
    with pytest.raises(ConfigError, match="a 't5' model cannot generate text .* or embed texts"):
        ModelBackend(t5_dir)


def test_a_bert_directory_serves_embeddings_only(bert_dir, serve):
    with serve(create_app(ModelBackend(bert_dir))) as url:
        r = httpx.post(f"{url}/v1/embeddings", json={"model": "bert", "input": ["the cat sat", "the dog"]}, timeout=60)
        assert r.status_code == 200, r.text
        assert [len(d["embedding"]) for d in r.json()["data"]] == [16, 16]
        r = httpx.post(f"{url}/v1/chat/completions", timeout=60,
                       json={"model": "bert", "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 400 and r.json()["error"]["code"] == "model_not_generative"


def test_a_language_model_without_hidden_states_refuses_embeddings_cleanly(tmp_path, serve):
    directory = _model_dir(tmp_path / "bigram", lambda v: BigramLM(BigramConfig(vocab_size=v)))
    with serve(create_app(ModelBackend(directory))) as url:
        r = httpx.post(f"{url}/v1/embeddings", json={"model": "bigram", "input": "the cat"}, timeout=60)
        assert r.status_code == 400 and r.json()["error"]["code"] == "model_cannot_embed"


@pytest.mark.parametrize(("command", "directory", "message"), [
    ("serve", "t5_dir", "cannot generate text"),
    ("sample", "t5_dir", "cannot generate text"),
    ("chat", "t5_dir", "cannot generate text"),
    ("sample", "bert_dir", "a 'bert' model cannot generate text"),
    ("chat", "bert_dir", "a 'bert' model cannot generate text"),
])
def test_the_cli_refuses_in_one_line(command, directory, message, request):
    model_dir = request.getfixturevalue(directory)
    run = subprocess.run([sys.executable, "-m", "lmforge.cli.main", command, str(model_dir)], input="",
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and message in run.stderr and str(model_dir) in run.stderr
