"""The lab registry: registration rules, lookup errors, result checks and result.json."""

import json

import pytest

from lmforge.errors import LmforgeError
from lmforge.labs import registry
from lmforge.labs.registry import LabContext, LabResult, Reference, get_lab, lab, run_lab


@pytest.fixture
def labs(monkeypatch):
    """A private copy of the registry, so labs defined by a test do not leak into the others."""
    registry.discover()
    monkeypatch.setattr(registry, "_LABS", dict(registry._LABS))
    return registry._LABS


def register(lab_id="text-probe", phase="text", minutes=1.0, artifact=True):
    @lab(id=lab_id, phase=phase, title="probe", teaches=("lmforge.text",), docs="docs/labs.md", minutes=minutes)
    def probe(ctx: LabContext) -> LabResult:
        path = ctx.out_dir / "probe.txt"
        if artifact:
            path.write_text(f"{ctx.budget_minutes} {ctx.smoke} {ctx.deadline() > ctx.started}", encoding="utf-8")
        return LabResult("measured 1.0", {"x": 1.0}, Reference("1.0", "a book"), [path])

    return probe


@pytest.mark.parametrize("kwargs,message", [
    ({"lab_id": "Text_Probe"}, "lowercase words joined by dashes"),
    ({"phase": "astrology"}, "phase 'astrology' is not one of text, classic"),
    ({"minutes": 30}, "minutes=30 must be in (0, 10]"),
])
def test_bad_registrations_name_the_function_and_the_rule(labs, kwargs, message):
    with pytest.raises(LmforgeError, match=r"test_registry\.register\.<locals>\.probe") as e:
        register(**kwargs)
    assert message in str(e.value)


def test_an_id_taken_by_another_function_is_refused(labs):
    register()
    with pytest.raises(LmforgeError, match="lab id 'text-probe' is already registered by test_registry"):
        lab(id="text-probe", phase="text", title="t", teaches=(), docs="d", minutes=1)(lambda ctx: None)
    assert labs["text-probe"].fn.__name__ == "probe"


def test_unknown_lab_suggests_close_ids(labs):
    register()
    with pytest.raises(LmforgeError) as e:
        get_lab("text-prob")
    message = str(e.value)
    assert "unknown lab 'text-prob'" in message and "did you mean text-probe" in message and "\n" not in message


def test_run_lab_writes_result_json_with_budget_and_reference(labs, tmp_path, capsys):
    register()
    result = run_lab("text-probe", out_dir=tmp_path, budget_minutes=0.5, seed=3)
    saved = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))
    assert saved["headline"] == result.headline == "measured 1.0" and saved["seed"] == 3
    assert saved["budget_minutes"] == 0.5 and saved["reference"] == {"figure": "1.0", "source": "a book"}
    assert (tmp_path / "probe.txt").read_text() == "0.5 False True"
    err = capsys.readouterr().err
    assert "measured  measured 1.0" in err and "reference 1.0 — a book" in err


def test_smoke_mode_gets_the_smoke_budget(labs, tmp_path):
    register()
    run_lab("text-probe", out_dir=tmp_path, smoke=True)
    assert (tmp_path / "probe.txt").read_text() == f"{registry.SMOKE_BUDGET_MINUTES} True True"


def test_a_lab_that_does_not_write_its_artifacts_fails(labs, tmp_path):
    register(artifact=False)
    with pytest.raises(LmforgeError, match="artifacts not written"):
        run_lab("text-probe", out_dir=tmp_path)
    assert not (tmp_path / "result.json").exists()


def test_a_non_positive_budget_is_refused(labs, tmp_path):
    register()
    with pytest.raises(LmforgeError, match="--budget-minutes must be positive"):
        run_lab("text-probe", out_dir=tmp_path, budget_minutes=0)


def test_roadmap_lists_every_phase_in_order_and_says_which_have_no_lab(labs):
    lines = registry.roadmap_lines()
    titles = [i for i, line in enumerate(lines) if line[:3].strip().rstrip(".").isdigit()]
    assert [lines[i].split("[")[1].split("]")[0] for i in titles] == list(registry.PHASE_KEYS)
    grouped = registry.labs_by_phase()
    for i, phase in zip(titles, registry.PHASE_KEYS, strict=True):
        block = lines[i + 2] if i + 2 < len(lines) else ""
        if grouped[phase]:
            assert block.startswith(f"    lab {grouped[phase][0].id}:")
        else:
            assert "not built yet" in block


def test_labs_write_their_files_atomically():
    """Plots go through lmforge.io.save_png and text through lmforge.io.write_text (both atomic):
    no lab module calls savefig or Path.write_text itself."""
    from pathlib import Path

    package = Path(registry.__file__).parent
    direct = [f"{path.name}:{n}" for path in sorted(package.glob("*.py"))
              for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
              if ".savefig(" in line or ".write_text(" in line or ".write_bytes(" in line]
    assert direct == []


def test_write_text_replaces_the_file_whole(tmp_path):
    from lmforge.io import write_text

    path = write_text(tmp_path / "notes.md", "first\n")
    write_text(path, "second\n")
    assert path.read_text(encoding="utf-8") == "second\n" and [p.name for p in tmp_path.iterdir()] == ["notes.md"]


def test_lab_data_comes_from_lmforge_data_dir_then_tests_data(tmp_path, monkeypatch):
    from lmforge.errors import DataError
    from lmforge.labs._common import DATA_ENV, SMS_SPAM, data_path

    monkeypatch.delenv(DATA_ENV, raising=False)
    assert data_path(SMS_SPAM).parts[-5:-3] == ("tests", "data")  # the checkout's copy, never a sibling folder
    (tmp_path / "mine.txt").write_text("x", encoding="utf-8")
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    assert data_path("mine.txt") == tmp_path / "mine.txt"
    with pytest.raises(DataError, match=f"lab data nowhere.txt not found .*: set {DATA_ENV} to a folder"):
        data_path("nowhere.txt")
