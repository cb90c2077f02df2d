"""`lmforge translate-train | translate | translate-eval` as a user runs them."""

import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from lmforge.cli import translate
from lmforge.errors import DataError

ENG_FRA = Path(__file__).parents[1] / "data" / "eng_fra" / "eng-fra_first20k_train.txt"
app = typer.Typer()
app.command()(translate.translate)
app.command("translate-train")(translate.train)
app.command("translate-eval")(translate.evaluate)
runner = CliRunner()


def test_train_translate_with_heatmap_and_evaluate(tmp_path):
    out = tmp_path / "enfr"
    trained = runner.invoke(app, ["translate-train", "--data", str(ENG_FRA), "--out", str(out), "--limit", "300",
                                  "--max-steps", "40", "--hidden-size", "32", "--emb-dim", "32", "--min-freq", "1",
                                  "--attention", "general", "--cell", "lstm", "--teacher-forcing", "0.5"])  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert "test BLEU (greedy, sacreBLEU)" in trained.output and " cased, " in trained.output
    assert (out / "vocab.json").is_file()

    png = tmp_path / "attention.png"
    translated = runner.invoke(app, ["translate", "I am cold.", "--model", str(out), "--beam", "3",
                                     "--show-attention", str(png)])  # fmt: skip
    assert translated.exit_code == 0, translated.output
    assert png.read_bytes()[:4] == b"\x89PNG"  # (40 steps: the translation itself may still be empty)

    evaluated = runner.invoke(app, ["translate-eval", "--model", str(out), "--split", "dev"])
    assert evaluated.exit_code == 0, evaluated.output
    assert evaluated.output.startswith("BLEU ") and "(cased; lowercased " in evaluated.output
    assert "on dev (" in evaluated.output


def test_help_and_user_errors_are_one_line_with_exit_2(tmp_path):
    helped = runner.invoke(app, ["translate", "--help"])
    assert helped.exit_code == 0 and "--show-attention" in helped.output and "--beam" in helped.output
    missing = subprocess.run([sys.executable, "-m", "lmforge.cli.main", "translate", "hello", "--model",
                              str(tmp_path / "nope")], capture_output=True, text=True)  # fmt: skip
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [f"error: model directory not found: {tmp_path / 'nope'}"]
    bad = tmp_path / "bad.txt"
    bad.write_text("Hi.\tSalut.\nno tab here\n", encoding="utf-8")
    malformed = runner.invoke(app, ["translate-train", "--data", str(bad), "--out", str(tmp_path / "m")])
    assert isinstance(malformed.exception, DataError)  # main() prints these as one line with exit status 2
    assert f"{bad}: line 2: expected 'source<TAB>target'" in str(malformed.exception)
