"""``lmforge report``: the card's numbers are the library's (perplexity, multiple choice), references sit
beside them with their source, and two cards compare side by side."""

import json
import string

import torch

from lmforge.assets import tinyshakespeare_path
from lmforge.cli.main import run
from lmforge.evaluate.perplexity import sliding_window_perplexity
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.registry import save_model
from lmforge.recipes.evaluate import run_choice
from lmforge.tokenizers import train_tokenizer


def _lm_dir(path, seed: int):
    tokenizer = train_tokenizer("char", string.printable)
    torch.manual_seed(seed)
    save_model(GPT(GPTConfig(vocab_size=tokenizer.vocab_size, context_length=32, d_model=32, n_layers=1,
                             n_heads=2)), path)
    tokenizer.save(path / "tokenizer.json")
    return path, tokenizer


def test_card_holds_the_librarys_numbers_beside_cited_references(tmp_path, capsys):
    model_dir, tokenizer = _lm_dir(tmp_path / "tiny", 0)
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps({"context": f"{i} + 1 =", "choices": [str(i + 1), str(i + 2)], "answer": 0})
                             + "\n" for i in range(6)))
    refs = tmp_path / "refs.json"
    refs.write_text(json.dumps({"acc": {"value": 0.5, "source": "chance, 2 choices"},
                                "bits_per_byte": {"value": 1.2, "source": "a cited run"}}))
    assert run(["report", str(model_dir), "--max-chars", "600", "--context", "16", "--stride", "8",
                "--tasks", f"choice={items}", "--references", str(refs)]) == 0
    card = json.loads((model_dir / "report.json").read_text())
    corpus = tinyshakespeare_path().read_text()
    held_out = corpus[int(len(corpus) * 0.9):][:600]
    expected = sliding_window_perplexity(_lm(model_dir), tokenizer.encode(held_out),
                                         len(held_out.encode()), 16, 8)
    assert card["text"]["bits_per_byte"] == expected.bits_per_byte
    choice = run_choice(model_dir, items)
    assert [(t["metric"], t["value"]) for t in card["tasks"]] == [("acc", choice.acc), ("acc_norm", choice.acc_norm)]
    markdown = (model_dir / "report.md").read_text()
    assert "chance, 2 choices" in markdown and "a cited run" in markdown and "tinyshakespeare" in markdown
    assert card["parameters"] > 0 and card["speed"]["decode_tok_s"] > 0
    assert (model_dir / "report.png").stat().st_size > 1000
    capsys.readouterr()

    other, _ = _lm_dir(tmp_path / "other", 1)
    same = ["--max-chars", "600", "--context", "16", "--stride", "8", "--tasks", f"choice={items}",
            "--references", str(refs)]
    written = (model_dir / "report.json").stat().st_mtime_ns
    assert run(["report", "--compare", str(model_dir), str(other), *same, "--out", str(tmp_path / "both.md")]) == 0
    both = (tmp_path / "both.md").read_text()
    assert "| tiny | other |" in both and f"{expected.bits_per_byte:.4f}" in both
    assert (tmp_path / "both.png").is_file() and (other / "report.json").is_file()
    assert (model_dir / "report.json").stat().st_mtime_ns == written  # same settings, same weights: reused
    assert run(["report", "--compare", str(model_dir), str(other), "--max-chars", "600", "--context", "16",
                "--stride", "4", "--out", str(tmp_path / "both.md")]) == 0
    assert json.loads((model_dir / "report.json").read_text())["settings"]["stride"] == 4  # other settings: measured


def _lm(model_dir):
    from lmforge.models.registry import load_model

    return load_model(model_dir)


def test_bad_task_specs_and_references_are_one_line(tmp_path, capsys):
    model_dir, _ = _lm_dir(tmp_path / "tiny", 0)
    refs = tmp_path / "refs.json"
    refs.write_text('{"acc": 0.5}')
    for args, words in ((["--tasks", "hellaswag"], "expected choice=ITEMS.jsonl"),
                        (["--references", str(refs)], "refs.json: expected")):
        assert run(["report", str(model_dir), "--max-chars", "200", "--context", "16", *args]) == 2
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1
