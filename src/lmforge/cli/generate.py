"""``lmforge sample | chat``: text from a trained model through the generation engine."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from lmforge.infer.sampling import SamplingConfig

MODEL_DIR = Annotated[Path, typer.Argument(help="Model directory (config.json, model.safetensors, tokenizer.json).")]
TEMPERATURE = Annotated[float, typer.Option(help="0 = greedy; <1 sharper, >1 more random.")]
TOP_K = Annotated[int | None, typer.Option(help="Sample only among the k most likely tokens.")]
TOP_P = Annotated[float | None, typer.Option(help="Nucleus sampling: smallest set with this total probability.")]


def sample(
    model_dir: MODEL_DIR,
    prompt: Annotated[str, typer.Option(help="Text to continue (default: start a new document).")] = "",
    max_tokens: Annotated[int, typer.Option(help="New tokens per sample.")] = 300,
    temperature: TEMPERATURE = 0.8,
    top_k: TOP_K = 50,
    top_p: TOP_P = None,
    num_samples: Annotated[int, typer.Option(help="How many samples.")] = 1,
    seed: Annotated[int | None, typer.Option(help="Seed for reproducible samples.")] = None,
    no_cache: Annotated[bool, typer.Option(help="Disable the KV cache (slower; for comparison).")] = False,
) -> None:
    """Continue a prompt, streaming tokens as they are generated."""
    from lmforge.infer.loading import load_for_generation
    from lmforge.train.quickstart import prompt_ids_for

    engine, tokenizer = load_for_generation(model_dir)
    stops = frozenset({tokenizer.eos_id} - {None})
    for i in range(num_samples):
        config = SamplingConfig(max_tokens, temperature, top_k, top_p, stops,
                                None if seed is None else seed + i, use_cache=not no_cache)
        sys.stdout.write(prompt)
        for text in tokenizer_stream(tokenizer, engine.stream(prompt_ids_for(tokenizer, prompt), config)):
            sys.stdout.write(text)
            sys.stdout.flush()
        sys.stdout.write("\n" + ("-" * 40 + "\n" if i + 1 < num_samples else ""))


def tokenizer_stream(tokenizer, tokens):
    """Decode a token stream incrementally (a UTF-8 character may span several byte-level tokens)."""
    from lmforge.infer.detokenize import IncrementalDecoder

    decoder = IncrementalDecoder(tokenizer)
    for token in tokens:
        if text := decoder.add(token.id):
            yield text
    if text := decoder.flush():
        yield text


def chat(
    model_dir: MODEL_DIR,
    max_tokens: Annotated[int, typer.Option(help="Longest reply in tokens.")] = 200,
    temperature: TEMPERATURE = 0.8,
    top_k: TOP_K = 50,
    top_p: TOP_P = None,
) -> None:
    """A plain REPL: your text is appended to the running transcript and the model continues it.

    Type /reset to clear the transcript, /quit (or Ctrl-D) to leave.
    """
    from lmforge.infer.loading import load_for_generation
    from lmforge.infer.transcript import Transcript

    engine, tokenizer = load_for_generation(model_dir)
    transcript = Transcript(tokenizer, budget=engine.context_length - max_tokens)
    config = SamplingConfig(max_tokens, temperature, top_k, top_p, frozenset({tokenizer.eos_id} - {None}))
    typer.echo(f"chatting with {model_dir} (context {engine.context_length} tokens). /reset, /quit")
    while True:
        try:
            line = input("> ")
        except EOFError:
            break
        if line.strip() == "/quit":
            break
        if line.strip() == "/reset":
            transcript.reset()
            typer.echo("(transcript cleared)")
            continue
        dropped = transcript.add(line + "\n")
        if dropped:
            typer.echo(f"(dropped {dropped} oldest turn(s) to fit the context)")
        reply = []
        for text in tokenizer_stream(tokenizer, engine.stream(transcript.ids(), config)):
            reply.append(text)
            sys.stdout.write(text)
            sys.stdout.flush()
        sys.stdout.write("\n")
        transcript.add("".join(reply) + "\n", must_fit=False)
