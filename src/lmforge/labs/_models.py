"""The models the prompting, interpretability and ethics labs share.

- :func:`tiny_chat_model`: smoke mode's stand-in for SmolLM2, a tiny random decoder with a character
  tokenizer built in milliseconds (tests/labs/test_smoke.py runs every lab; what it predicts is noise,
  which the labs say in their notes);
- :func:`sentiment_classifier`: MiniLM fine-tuned on the UCI review sentences, the classifier the
  attribution lab explains and the bias-probe lab probes (smoke mode: a tiny random BERT, two steps).
"""

from __future__ import annotations

import string

import torch

from lmforge.infer.chat import ChatFormat, chat_format_for
from lmforge.labs._common import data_path, encoder_dir
from lmforge.labs.registry import LabContext
from lmforge.models.llama import Llama, LlamaConfig
from lmforge.tasks.backbone import load_backbone
from lmforge.tasks.classify import ClassifyResult, finetune_classifier
from lmforge.tasks.codec import Codec
from lmforge.tasks.data import TextExample, read_text_labels, split_examples
from lmforge.tasks.heads import TaskModel, load_task_model
from lmforge.tasks.training import FinetuneConfig
from lmforge.tokenizers import CharTokenizer, Tokenizer


def tiny_chat_model(seed: int = 0) -> tuple[Llama, Tokenizer, ChatFormat]:
    """A 1-layer random Llama over printable ASCII, and the plain chat format (no chat markers)."""
    tokenizer = CharTokenizer.train(string.printable)
    torch.manual_seed(seed)
    model = Llama(LlamaConfig(vocab_size=tokenizer.vocab_size, context_length=2048, d_model=16, n_layers=2,
                              n_heads=2, n_kv_heads=1, d_mlp=32))
    return model.eval(), tokenizer, chat_format_for(tokenizer, "plain")


UCI_SENTIMENT = tuple(f"sentiment/uci_sentiment_labelled/{name}_labelled.txt"
                      for name in ("amazon_cells", "imdb", "yelp"))
SENTIMENT_LABELS = {"0": "negative", "1": "positive"}


def sentiment_split(smoke: bool, seed: int) -> tuple[list[TextExample], list[TextExample]]:
    """UCI sentiment sentences (Kotzias et al. 2015: amazon, imdb, yelp) as labelled "negative"/"positive",
    80/20 stratified; in smoke mode 64 training and 16 test sentences."""
    examples = [TextExample(e.text.strip(), SENTIMENT_LABELS[e.label], e.line)
                for path in UCI_SENTIMENT for e in read_text_labels(data_path(path), "0", "1", header=False)]
    train, test = split_examples(examples, 0.2, seed)
    return (train[:64], test[:16]) if smoke else (train, test)


def sentiment_classifier(ctx: LabContext, share: float) -> tuple[TaskModel, Codec, ClassifyResult]:
    """all-MiniLM-L6-v2 + a head fine-tuned on the UCI sentences for one epoch within ``share`` of the
    lab's budget (smoke: a tiny random BERT with MiniLM's tokenizer, two steps), in eval mode, with the codec
    that frames its inputs."""
    train, test = sentiment_split(ctx.smoke, ctx.seed)
    backbone, tokenizer = load_backbone(encoder_dir(ctx.smoke, ctx.out_dir / "tiny-encoder"))
    config = FinetuneConfig(epochs=1.0, batch_size=16, lr=5e-5, max_minutes=ctx.budget_minutes * share,
                            max_steps=2 if ctx.smoke else None, seed=ctx.seed)
    result = finetune_classifier(backbone, tokenizer, train, test, ctx.out_dir / "classifier", config, max_len=64,
                                 console=ctx.console)
    model = load_task_model(ctx.out_dir / "classifier")
    return model, Codec.for_tokenizer(tokenizer), result
