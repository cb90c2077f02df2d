"""``lmforge translate | translate-train | translate-eval``: RNN encoder-decoder translation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lmforge.cli.options import DEVICE, max_minutes_help

MODEL = Annotated[Path, typer.Option(help="Translator directory (from `lmforge translate-train`).")]
BEAM = Annotated[int, typer.Option(help="Beam size; 1 = greedy decoding.")]
LENGTH_PENALTY = Annotated[float, typer.Option(help="Beam ranking: log p / ((5+len)/6)^alpha; 0 = raw log p.")]


def translate(
    text: Annotated[str, typer.Argument(help="Sentence to translate (source language).")],
    model: MODEL,
    beam: BEAM = 5,
    length_penalty: LENGTH_PENALTY = 0.6,
    show_attention: Annotated[Path | None, typer.Option(help="Write the attention heatmap to this PNG.")] = None,
    device: DEVICE = "auto",
) -> None:
    """Translate one sentence with a trained translator."""
    from lmforge.devices import resolve_device
    from lmforge.recipes.translator import Translator, plot_attention

    translation = Translator.load(model, resolve_device(device)).translate(text, beam, length_penalty)
    typer.echo(translation.text)
    if show_attention is not None:
        plot_attention(translation, show_attention)
        Console(stderr=True).print(f"attention heatmap written to {show_attention}")


def train(
    data: Annotated[Path, typer.Option(help="Pair file: one 'source<TAB>target' per line.")],
    out: Annotated[Path, typer.Option(help="Output directory: the translator, metrics.jsonl, loss.png.")],
    attention: Annotated[str, typer.Option(help="bahdanau | dot | general | none.")] = "bahdanau",
    cell: Annotated[str, typer.Option(help="gru | lstm.")] = "gru",
    hidden_size: Annotated[int, typer.Option(help="RNN width.")] = 256,
    emb_dim: Annotated[int, typer.Option(help="Word embedding width.")] = 256,
    n_layers: Annotated[int, typer.Option(help="Stacked RNN layers (encoder and decoder).")] = 1,
    bidirectional: Annotated[bool, typer.Option(help="Bidirectional encoder.")] = True,
    dropout: Annotated[float, typer.Option(help="Dropout probability.")] = 0.2,
    teacher_forcing: Annotated[float, typer.Option(help="Teacher-forcing ratio in [0, 1].")] = 1.0,
    batch_size: Annotated[int, typer.Option(help="Pairs per batch.")] = 64,
    max_steps: Annotated[int | None, typer.Option(help="Optimizer steps (default 3000).")] = None,
    max_minutes: Annotated[float | None, typer.Option(help=max_minutes_help())] = None,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = 3e-3,
    limit: Annotated[int | None, typer.Option(help="Use only the first N pairs.")] = None,
    min_freq: Annotated[int, typer.Option(help="Words seen fewer times in training become <unk>.")] = 2,
    split_seed: Annotated[int, typer.Option(help="Seed of the train/dev/test split.")] = 0,
    seed: Annotated[int, typer.Option(help="Training seed.")] = 1337,
    resume: Annotated[bool, typer.Option(help="Continue from --out's latest checkpoint (same options).")] = False,
    device: DEVICE = "auto",
) -> None:
    """Train an encoder-decoder translator (80/10/10 train/dev/test split by source sentence); prints test BLEU."""
    from lmforge.data.translation import DataConfig
    from lmforge.devices import resolve_device
    from lmforge.models.seq2seq import Seq2SeqConfig
    from lmforge.recipes.translate_train import train_translator
    from lmforge.train.trainer import TrainConfig, lr_schedule_for

    model_config = Seq2SeqConfig(emb_dim=emb_dim, hidden_size=hidden_size, n_layers=n_layers, cell=cell,  # type: ignore[arg-type]
                                 bidirectional=bidirectional, attention=attention,  # type: ignore[arg-type]
                                 dropout=dropout, teacher_forcing_ratio=teacher_forcing)
    model_config.validate()
    steps = max_steps if max_steps is not None else 3000
    train_config = TrainConfig(max_steps=steps, max_minutes=max_minutes, lr=lr, min_lr=lr / 10,
                               warmup_steps=min(100, steps // 10), eval_interval=200, log_interval=20,
                               checkpoint_interval=1000, schedule=lr_schedule_for(max_minutes, max_steps),
                               precision="fp32", seed=seed)
    data_config = DataConfig(str(data), limit, min_freq=min_freq, batch_size=batch_size, split_seed=split_seed)
    run_device = resolve_device(device)  # a missing device is refused before anything is written
    translator, result, split = train_translator(data_config, model_config, train_config, out, resume=resume,
                                                 device=run_device)
    bleu = translator.bleu(split.test)
    Console().print(f"dev loss {result.val_loss:.3f} after {result.steps} steps; test BLEU (greedy, sacreBLEU) "
                    f"{bleu.cased:.1f} cased, {bleu.lowercased:.1f} lowercased; translator in {out}")


def evaluate(
    model: MODEL,
    split: Annotated[str, typer.Option(help="test | dev | train.")] = "test",
    beam: BEAM = 1,
    length_penalty: LENGTH_PENALTY = 0.6,
    data: Annotated[Path | None, typer.Option(help="Pair file (default: the one the model was trained on).")] = None,
    device: DEVICE = "auto",
) -> None:
    """Cased and lowercased sacreBLEU (all original references of each source sentence) on the run's split."""
    import dataclasses

    from lmforge.data.translation import data_config_of, load_split
    from lmforge.devices import resolve_device
    from lmforge.errors import ConfigError
    from lmforge.recipes.translator import Translator

    run_device = resolve_device(device)
    if split not in ("test", "dev", "train"):
        raise ConfigError(f"--split must be test, dev or train, got {split!r}")
    data_config = data_config_of(model)
    if data is not None:
        data_config = dataclasses.replace(data_config, path=str(data))
    pairs = getattr(load_split(data_config), split)
    bleu = Translator.load(model, run_device).bleu(pairs, beam, length_penalty)
    typer.echo(f"BLEU {bleu.cased:.2f} (cased; lowercased {bleu.lowercased:.2f}) on {split} "
               f"({len(pairs)} pairs, beam {beam})")
