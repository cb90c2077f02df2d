"""`lmforge roadmap`, `lmforge lab --list`, `lmforge lab --notebook` and the one-line errors of `lmforge lab`."""

import json

import nbformat

from lmforge.cli.main import run
from lmforge.labs.registry import PHASES, discover


def test_roadmap_prints_every_phase_in_order_with_its_docs(capsys):
    assert run(["roadmap"]) == 0
    out = capsys.readouterr().out
    positions = [out.index(f"[{p.key}]  docs: {p.docs}") for p in PHASES]
    assert positions == sorted(positions)
    assert all(f"lab {lab_id}:" in out for lab_id in discover())


def test_labs_come_in_the_order_a_learner_walks_them(capsys):
    """By phase, then in the order each module defines its labs (not by id: autograd before autoencoder)."""
    import inspect

    labs = list(discover().values())
    for module in {lb.fn.__module__ for lb in labs}:
        mine = [lb for lb in labs if lb.fn.__module__ == module]
        assert mine == sorted(mine, key=lambda lb: inspect.getsourcelines(lb.fn)[1]), module
    assert run(["roadmap"]) == 0
    out = capsys.readouterr().out
    order = ["foundations-autograd", "foundations-backprop", "foundations-autoencoder",
             "interpretability-ethics-attributions", "interpretability-ethics-logit-lens",
             "interpretability-ethics-bias-probes"]
    positions = [out.index(f"lab {lab_id}:") for lab_id in order]
    assert positions == sorted(positions)


def test_lab_list_names_every_lab_with_its_budget(capsys):
    assert run(["lab", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(discover())
    assert all(" min  " in line for line in lines)


def one_line_error(capsys, *args) -> str:
    assert run(list(args)) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_an_unknown_lab_is_one_line_with_close_ids(capsys):
    err = one_line_error(capsys, "lab", "text-tokenizer")
    assert "unknown lab 'text-tokenizer': did you mean text-tokenizers" in err


def test_lab_without_an_id_is_one_line(capsys):
    assert "give a lab ID or --list" in one_line_error(capsys, "lab")


def test_a_non_positive_budget_is_one_line(capsys):
    assert "--budget-minutes must be positive" in one_line_error(capsys, "lab", "classic-spam", "--budget-minutes", "0")


def test_notebook_holds_the_intro_the_source_and_the_run_cell(tmp_path, capsys):
    assert run(["lab", "classic-spam", "--notebook", "--out", str(tmp_path), "--smoke"]) == 0
    assert "classic-spam.ipynb" in capsys.readouterr().out
    nb = nbformat.read(tmp_path / "classic-spam.ipynb", as_version=4)
    nbformat.validate(nb)
    intro, source, _, run_cell, _, show = nb.cells
    assert "Classic NLP" in intro.source and "`lmforge.classic.naive_bayes`" in intro.source
    assert "def classic_lab(ctx: LabContext) -> LabResult:" in source.source and source.cell_type == "markdown"
    assert run_cell.cell_type == "code" and "run_lab('classic-spam'" in run_cell.source
    assert "smoke=True" in run_cell.source and "seed=0)" in run_cell.source
    assert "result.reference.figure" in show.source
    assert json.loads(nbformat.writes(nb))["metadata"]["kernelspec"]["name"] == "python3"


def test_notebook_passes_the_seed_to_run_lab(tmp_path):
    assert run(["lab", "classic-spam", "--notebook", "--out", str(tmp_path), "--seed", "3"]) == 0
    run_cell = nbformat.read(tmp_path / "classic-spam.ipynb", as_version=4).cells[3]
    assert "seed=3)" in run_cell.source
