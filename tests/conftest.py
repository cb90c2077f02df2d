"""Shared fixtures: small, seeded, built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from lmforge import precision
from lmforge.assets import tinyshakespeare_path

FIXTURES = Path(__file__).parent / "data"

# Under CI=true a test skipped for a missing reference library fails; optional extras skip with the command that
# runs them (tests/_evidence.py). pytester runs the small suites that test that guard.
pytest_plugins = ["pytester", "_evidence"]


def pytest_addoption(parser):
    parser.addoption("--auto-precision", choices=precision.PRECISIONS, default=None,
                     help=f"Force what --precision auto returns (sets {precision.AUTO_ENV}); without it a test that "
                          "leaves its precision to auto fails.")


def pytest_configure(config):
    config.addinivalue_line("markers", "auto_precision: a test of auto precision itself (fakes CPU flags and "
                                       "timings); exempt from the pin-the-precision guard")
    forced = config.getoption("--auto-precision")
    if forced:
        os.environ[precision.AUTO_ENV] = forced  # also reaches CLI runs in subprocesses


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True)
def _pin_the_precision(request, monkeypatch, tmp_path_factory):
    """What a test checks must not depend on the CPU it runs on, so no test may leave its precision to auto.

    ``--auto-precision fp32|bf16`` runs the suite with auto forced either way instead. Tests of auto itself
    (marker ``auto_precision``) get no forced value and a cache of their own.
    """
    if request.node.get_closest_marker("auto_precision"):
        monkeypatch.delenv(precision.AUTO_ENV, raising=False)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    elif not request.config.getoption("--auto-precision"):
        def refuse(*args, **kwargs):
            pytest.fail("this test reached --precision auto: pin the precision (fp32 unless bf16 is the point), "
                        "or run pytest with --auto-precision fp32|bf16", pytrace=False)
        monkeypatch.setattr(precision, "resolve_auto", refuse)
        # a CLI run in a subprocess that reaches auto stops at this value, naming it, with exit status 2
        monkeypatch.setenv(precision.AUTO_ENV, "pin-the-precision")
    yield


@pytest.fixture(scope="session")
def shakespeare_text() -> str:
    return tinyshakespeare_path().read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def char_data_dir(tmp_path_factory, shakespeare_text) -> Path:
    """The first 200k characters of tinyshakespeare, char-tokenized into shards."""
    from lmforge.data.shards import prepare
    from lmforge.tokenizers import train_tokenizer

    root = tmp_path_factory.mktemp("char_data")
    corpus = root / "corpus.txt"
    corpus.write_text(shakespeare_text[:200_000], encoding="utf-8")
    tokenizer = train_tokenizer("char", shakespeare_text)
    tokenizer.save(root / "tokenizer.json")
    prepare([corpus], tokenizer, root / "tokenizer.json", root / "data")
    return root / "data"
