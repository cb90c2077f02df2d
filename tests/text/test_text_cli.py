"""`lmforge text tokenize|stem|lemmatize` from stdin and files."""

from typer.testing import CliRunner

from lmforge.cli.text import app

runner = CliRunner()


def test_tokenize_stdin_lines_and_sentences():
    out = runner.invoke(app, ["tokenize"], input="Dr. Smith didn't pay $3.50.\nHe left!\n")
    assert out.exit_code == 0 and out.output == "Dr. Smith did n't pay $ 3.50 .\nHe left !\n"
    out = runner.invoke(app, ["tokenize", "--sentences", "--lower", "--strip-accents"], input="Café au lait. Très bon!")
    assert out.output == "cafe au lait .\ntres bon !\n"


def test_stem_and_lemmatize_files(tmp_path):
    f = tmp_path / "in.txt"
    f.write_text("The children were running to connected stations.\n", encoding="utf-8")
    stems = runner.invoke(app, ["stem", str(f)])
    assert stems.exit_code == 0 and stems.output == "the children were run to connect station .\n"
    original = runner.invoke(app, ["stem", "--mode", "original"], input="apology")
    assert original.output == "apologi\n"
    lemmas = runner.invoke(app, ["lemmatize", str(f)])
    assert lemmas.output == "the child be run to connect station .\n"


def test_missing_file_is_a_clean_error(tmp_path):
    result = runner.invoke(app, ["tokenize", str(tmp_path / "nope.txt")])
    assert result.exit_code != 0 and "file not found" in str(result.exception)
