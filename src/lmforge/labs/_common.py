"""What several labs share: finding their data and bar charts."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from lmforge.errors import DataError
from lmforge.io import pyplot, save_png

DATA_ENV = "LMFORGE_DATA_DIR"
_REPO = Path(__file__).resolve().parents[3]


def data_path(relative: str) -> Path:
    """``relative`` (e.g. ``sentiment/sms_spam/SMSSpamCollection``) under ``$LMFORGE_DATA_DIR``, else in a
    source checkout's ``tests/data`` (which holds every file the labs read, with its SOURCE.txt); one line
    saying how to point ``$LMFORGE_DATA_DIR`` at the data if neither has it."""
    roots = [Path(os.environ[DATA_ENV])] if os.environ.get(DATA_ENV) else []
    roots.append(_REPO / "tests" / "data")
    for root in roots:
        if (root / relative).exists():
            return root / relative
    raise DataError(f"lab data {relative} not found under {', '.join(map(str, roots))}: set {DATA_ENV} to a "
                    f"folder that holds it (e.g. export {DATA_ENV}=/path/to/lmforge/tests/data)")


def bar_chart(path: Path, labels: Sequence[str], values: Sequence[float], ylabel: str, title: str) -> Path:
    """A labelled bar chart as PNG (matplotlib without a display), written atomically."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(labels), 3.6))
    bars = ax.bar(list(labels), list(values), color="#4c72b0")
    ax.bar_label(bars, fmt="%.3g")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    save_png(fig, path)
    return path



SMS_SPAM = "sentiment/sms_spam/SMSSpamCollection"


def sms_split(smoke: bool, seed: int) -> tuple[list, list]:
    """SMS spam as (train, test) :class:`~lmforge.tasks.data.TextExample` lists, 80/20 stratified
    (the split the classic lab uses); in smoke mode 64 training and 32 test messages."""
    from lmforge.tasks.data import read_text_labels, split_examples

    examples = read_text_labels(data_path(SMS_SPAM), "1", "0", header=False)
    train, test = split_examples(examples, 0.2, seed)
    return (train[:64], test[:32]) if smoke else (train, test)


def tiny_gpt_dir(out: Path, text: str) -> Path:
    """Smoke mode's model: a random 2-layer char GPT over ``text``'s characters, saved with its tokenizer."""
    import torch

    from lmforge.models.gpt import GPT, GPTConfig
    from lmforge.models.registry import save_model
    from lmforge.tokenizers import train_tokenizer

    tokenizer = train_tokenizer("char", text)
    torch.manual_seed(0)
    save_model(GPT(GPTConfig(vocab_size=tokenizer.vocab_size, context_length=64, d_model=64, n_layers=2,
                             n_heads=2)), out)
    tokenizer.save(out / "tokenizer.json")
    return out


def encoder_dir(smoke: bool, out: Path) -> Path:
    """all-MiniLM-L6-v2 as an lmforge directory; in smoke mode a random 1-layer, 32-wide BERT with MiniLM's
    WordPiece tokenizer instead (same plumbing, a hundredth of the work)."""
    import shutil

    import torch

    from lmforge.interop.convert import TOKENIZER_FILES, minilm_dir
    from lmforge.models.bert import Bert, BertConfig
    from lmforge.models.registry import save_model

    if not smoke:
        return minilm_dir()
    torch.manual_seed(0)
    save_model(Bert(BertConfig(context_length=128, d_model=32, n_layers=1, n_heads=2, d_mlp=64,
                               pretraining_heads=False)), out)
    for name in TOKENIZER_FILES:
        if (minilm_dir() / name).is_file():
            shutil.copyfile(minilm_dir() / name, out / name)
    return out
