"""A tiny seeded GPT model directory and an lmforge server on 127.0.0.1 (uvicorn in a thread)."""

from __future__ import annotations

import socket
import string
import threading
import time
from contextlib import contextmanager

import pytest
import torch
import uvicorn

from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.registry import save_model
from lmforge.serve.app import ServerConfig, create_app
from lmforge.serve.backend import ModelBackend
from lmforge.tokenizers import train_tokenizer

API_KEY = "test-key"


def make_model_dir(path, context_length: int = 128):
    """A random GPT with a char tokenizer that has the ChatML markers as special tokens."""
    tokenizer = train_tokenizer("char", string.printable + "é☃", special_tokens=(
        "<|endoftext|>", "<|im_start|>", "<|im_end|>"))
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, context_length=context_length, d_model=32, n_layers=2,
                          n_heads=4))
    with torch.no_grad():  # larger weights than the 0.02 init, so replies are varied text, not one repeated id
        for p in model.parameters():
            p.normal_(0, 0.3)
    save_model(model, path)
    tokenizer.save(path / "tokenizer.json")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running(app):
    """Serve ``app`` on a free loopback port for the duration of the block; yields the base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="session")
def serve():
    """``with serve(app) as url:`` runs an app on a free loopback port."""
    return running


@pytest.fixture()
def port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def api_key() -> str:
    return API_KEY


@pytest.fixture(scope="session")
def chat_model_dir():
    """``chat_model_dir(path, context_length)`` builds a tiny chat model directory (see make_model_dir).

    A fixture, not ``from conftest import``: every test folder has a conftest, and that import would get
    whichever one pytest collected last.
    """
    return make_model_dir


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    return make_model_dir(tmp_path_factory.mktemp("serve") / "tiny-chat")


@pytest.fixture(scope="session")
def backend(model_dir):
    return ModelBackend(model_dir)


@pytest.fixture(scope="module")
def server_url(backend):
    """An open server (no API key)."""
    with running(create_app(backend, ServerConfig(max_tokens=64))) as url:
        yield url


@pytest.fixture(scope="module")
def keyed_url(backend):
    """A server that requires API_KEY, with small limits for the hostile-request tests."""
    with running(create_app(backend, ServerConfig(api_key=API_KEY, max_tokens=64, max_body_bytes=20_000))) as url:
        yield url
