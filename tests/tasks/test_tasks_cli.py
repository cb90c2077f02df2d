"""`lmforge finetune classify|ner|qa` and `lmforge eval`, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).parents[1] / "data"


def lmforge(*args):
    return subprocess.run([sys.executable, "-m", "lmforge.cli.main", *map(str, args)], capture_output=True,
                          text=True, timeout=300)


def _tiny_gpt_dir(tmp_path: Path) -> Path:
    """A tiny lmforge GPT model directory with a BPE tokenizer trained on SMS texts."""
    from lmforge.models.gpt import GPT, GPTConfig
    from lmforge.models.registry import save_model
    from lmforge.tokenizers import ByteLevelBPE

    texts = (DATA / "sentiment" / "sms_spam" / "SMSSpamCollection").read_text(encoding="utf-8")[:20000]
    tok = ByteLevelBPE.train(texts, vocab_size=300)
    model_dir = tmp_path / "gpt"
    save_model(GPT(GPTConfig(vocab_size=tok.vocab_size, context_length=64, d_model=32, n_layers=1, n_heads=2)),
               model_dir)
    tok.save(model_dir / "tokenizer.json")
    return model_dir


def test_finetune_classify_with_an_own_gpt(tmp_path):
    data = tmp_path / "d.jsonl"
    rows = [{"text": f"win a free prize {i} now", "label": "spam"} for i in range(20)]
    rows += [{"text": f"see you at lunch at {i}", "label": "ham"} for i in range(20)]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    result = lmforge("finetune", "classify", data, "--model", _tiny_gpt_dir(tmp_path), "--out", out,
                     "--max-steps", "30", "--lr", "3e-3", "--batch-size", "8", "--tensorboard")
    assert result.returncode == 0, result.stderr
    assert "accuracy 1.0000" in result.stdout
    assert json.loads((out / "task.json").read_text())["accuracy"] == 1.0
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))  # --tensorboard reaches the task heads' Trainer


def test_user_mistakes_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a", "label": "x"}\n{"label": "y"}\n', encoding="utf-8")
    result = lmforge("finetune", "classify", bad, "--model", tmp_path, "--out", tmp_path / "o")
    assert result.returncode == 2 and "line 2: missing field 'text'" in result.stderr
    assert "Traceback" not in result.stderr
    result = lmforge("finetune", "ner", DATA / "wnut17" / "wnut17train_first300.conll", tmp_path / "nope.conll",
                     "--out", tmp_path / "o")
    assert result.returncode == 2 and "file not found" in result.stderr


def test_eval_commands(tmp_path):
    squad = DATA / "squad_v11" / "squad_v11_dev_part1_2articles_6paras.json"
    from lmforge.data.annotated import read_squad

    questions = read_squad(squad)
    preds = {q.id: q.answers[0] for q in questions}
    preds[questions[0].id] = "something else entirely"
    (tmp_path / "p.json").write_text(json.dumps(preds), encoding="utf-8")
    result = lmforge("eval", "squad", squad, tmp_path / "p.json")
    assert result.returncode == 0, result.stderr
    assert f"exact match {100 * (len(questions) - 1) / len(questions):.2f}" in result.stdout
    gold = DATA / "wnut17" / "emerging.test.annotated_first200"
    result = lmforge("eval", "ner", gold, gold)
    assert result.returncode == 0 and "| **micro avg** | 1.0000 | 1.0000 | 1.0000 |" in result.stdout
    (tmp_path / "r.txt").write_text("the cat sat\nhello world\n", encoding="utf-8")
    (tmp_path / "h.txt").write_text("the cat sat\n", encoding="utf-8")
    result = lmforge("eval", "rouge", tmp_path / "r.txt", tmp_path / "h.txt")
    assert result.returncode == 2 and "1 lines but" in result.stderr
