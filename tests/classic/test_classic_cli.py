"""`lmforge classic train|eval|predict` as a user runs them."""

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lmforge.cli.classic import app
from lmforge.errors import DataError

SMS = Path(__file__).parents[1] / "data" / "sentiment" / "sms_spam" / "SMSSpamCollection"
runner = CliRunner()


def test_train_with_holdout_then_eval_and_predict(tmp_path):
    out = tmp_path / "spam"
    args = ["--data", SMS, "--delimiter", "\t", "--no-header", "--text-col", "1", "--label-col", "0"]
    trained = runner.invoke(app, ["train", *map(str, args), "--out", str(out), "--holdout", "0.2", "--ngram-max", "2"])
    assert trained.exit_code == 0, trained.output
    assert "held-out 20% (1,114 examples, seed 0)" in trained.output
    assert "majority-class baseline ('ham'): accuracy 0.8662" in trained.output
    assert (out / "classifier.json").is_file() and (out / "weights.safetensors").is_file()

    evaluated = runner.invoke(app, ["eval", "--model", str(out), *map(str, args)])
    assert evaluated.exit_code == 0, evaluated.output
    assert "| spam |" in evaluated.output and "accuracy 0.9" in evaluated.output

    predicted = runner.invoke(app, ["predict", "--model", str(out)], input="WINNER!! Claim your FREE prize now, "
                              "text WIN to 80086\nok see you at home later\n")  # fmt: skip
    assert predicted.exit_code == 0 and predicted.output.split() == ["spam", "ham"]


def test_eval_rejects_unknown_labels_with_file_line_and_column(tmp_path):
    train_csv = tmp_path / "train.csv"
    train_csv.write_text("text,label\ngreat movie,pos\nawful film,neg\nloved it,pos\nhated it,neg\n")
    model = tmp_path / "m"
    assert runner.invoke(app, ["train", "--data", str(train_csv), "--text-col", "text", "--label-col", "label",
                               "--out", str(model), "--model", "logreg"]).exit_code == 0  # fmt: skip
    test_csv = tmp_path / "test.csv"
    test_csv.write_text("text,label\nfine,pos\nso-so,neutral\n")
    result = runner.invoke(app, ["eval", "--model", str(model), "--data", str(test_csv), "--text-col", "text",
                                 "--label-col", "label"])  # fmt: skip
    assert isinstance(result.exception, DataError)
    assert "test.csv: line 3: column 'label': unknown label 'neutral'" in str(result.exception)


@pytest.mark.parametrize(
    "content,cols,message",
    [
        ("text,label\nfine,pos\n", ["--text-col", "review", "--label-col", "label"], "line 1: no column 'review'"),
        ("text,label\nfine,pos\n,neg\n", ["--text-col", "text", "--label-col", "label"], "line 3: column 'text' is "
                                                                                         "empty"),
    ],
)  # fmt: skip
def test_user_mistakes_are_one_line_exit_2(tmp_path, content, cols, message):
    data = tmp_path / "d.csv"
    data.write_text(content)
    result = subprocess.run(
        [sys.executable, "-m", "lmforge.cli.main", "classic", "train", "--data", str(data), *cols,
         "--out", str(tmp_path / "m")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
