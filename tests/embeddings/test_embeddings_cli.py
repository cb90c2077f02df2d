"""`lmforge embeddings train|neighbors|analogy|plot|evaluate` as a user runs them."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lmforge.cli.embeddings import app
from lmforge.errors import DataError

VERDICT = Path(__file__).parents[1] / "data" / "verdict" / "wharton-the_verdict.txt"
runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "w2v"
    result = runner.invoke(app, ["train", str(VERDICT), "--out", str(out), "--method", "cbow", "--dim", "16",
                                 "--min-count", "3", "--epochs", "2", "--no-evaluate"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "trained cbow:" in result.output and "16 dims" in result.output
    return out


def test_train_writes_vectors_that_neighbors_and_analogy_read(trained):
    for name in ("vectors.safetensors", "vocab.json", "vectors.txt", "config.json", "run.json", "loss.png"):
        assert (trained / name).is_file(), name
    result = runner.invoke(app, ["neighbors", "picture", "--vectors", str(trained), "--topn", "3"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("picture: ") and result.output.count(",") == 2
    result = runner.invoke(app, ["analogy", "he", "his", "she", "--vectors", str(trained / "vectors.txt")])
    assert result.exit_code == 0 and len(result.output.splitlines()) == 5


def test_plot_writes_png(trained, tmp_path):
    png = tmp_path / "words.png"
    result = runner.invoke(app, ["plot", "he", "she", "his", "her", "picture", "--vectors", str(trained),
                                 "--out", str(png)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pretrained_glove_analogy_from_the_cli():
    result = runner.invoke(app, ["analogy", "Man", "King", "Woman", "--vectors", "glove-6b-50d", "--topn", "1"])
    assert result.exit_code == 0 and result.output.split()[0] == "queen"


@pytest.mark.parametrize(
    "args,message",
    [
        (["neighbors", "zzzunknown"], "'zzzunknown' is not in the vocabulary"),
        (["plot", "he", "she", "--out", "x.png"], "at least 3 words"),
        (["plot", "he", "she", "his", "--out", "x.jpg"], "must be a .png"),
    ],
)
def test_user_mistakes_raise_project_errors(trained, args, message):
    result = runner.invoke(app, [*args, "--vectors", str(trained)])
    assert isinstance(result.exception, DataError) and message in str(result.exception)


def test_missing_vectors_source_is_a_clear_error():
    result = runner.invoke(app, ["neighbors", "a", "--vectors", "no/such/folder"])
    assert isinstance(result.exception, DataError) and "glove-6b-50d" in str(result.exception)
