"""``lmforge sample | chat``: text from a trained model through the generation engine."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from lmforge.cli.options import DEVICE, INFER_PRECISION, PACK
from lmforge.errors import LmforgeError

MODEL_DIR = Annotated[Path, typer.Argument(help="Model directory (config.json, model.safetensors, tokenizer.json).")]
TEMPERATURE = Annotated[float, typer.Option(help="0 = greedy; <1 sharper, >1 more random.")]
TOP_K = Annotated[int | None, typer.Option(help="Sample only among the k most likely tokens.")]
TOP_P = Annotated[float | None, typer.Option(help="Nucleus sampling: smallest set with this total probability.")]
DRAFT = Annotated[str | None, typer.Option(
    help="Speculative decoding with this draft: ngram[:N[:M]] (prompt lookup: what followed an earlier occurrence "
         "of the last N..M tokens, default 3..1, no model; helps when the reply copies the prompt), layers:N (the "
         "model's own first N layers, a Llama) or a model DIR with the same vocabulary. Same output distribution "
         "(greedy: same tokens); see docs/serving.md.")]
DRAFT_K = Annotated[int, typer.Option(help="With --draft: proposed tokens checked per model pass.")]


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
    device: DEVICE = "auto",
    draft: DRAFT = None,
    draft_k: DRAFT_K = 4,
    precision: INFER_PRECISION = "fp32",
    pack: PACK = True,
) -> None:
    """Continue a prompt, streaming tokens as they are generated."""
    from lmforge.devices import resolve_device
    from lmforge.infer.loading import load_for_generation
    from lmforge.infer.sampling import SamplingConfig
    from lmforge.recipes.quickstart import prompt_ids_for

    engine, tokenizer = load_for_generation(model_dir, resolve_device(device), draft, draft_k, precision, pack)
    stops = frozenset({tokenizer.eos_id} - {None})
    for i in range(num_samples):
        config = SamplingConfig(max_tokens, temperature, top_k, top_p, stops,
                                None if seed is None else seed + i, use_cache=not no_cache)
        sys.stdout.write(prompt)
        for text in tokenizer_stream(tokenizer, engine.stream(prompt_ids_for(tokenizer, prompt), config)):
            sys.stdout.write(text)
            sys.stdout.flush()
        sys.stdout.write("\n" + ("-" * 40 + "\n" if i + 1 < num_samples else ""))
    if draft:
        typer.echo(engine.summary(), err=True)


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
    system: Annotated[str | None, typer.Option(help="System prompt (kept when old turns are dropped).")] = None,
    max_tokens: Annotated[int, typer.Option(help="Longest reply in tokens.")] = 200,
    temperature: TEMPERATURE = 0.8,
    top_k: TOP_K = 50,
    top_p: TOP_P = None,
    seed: Annotated[int | None, typer.Option(help="Seed for reproducible replies.")] = None,
    chat_format: Annotated[str, typer.Option(
        "--format", help="Prompt format: auto (the model's chat template, else ChatML or plain), template, chatml, "
                         "plain.")] = "auto",
    load: Annotated[Path | None, typer.Option(help="Start from a conversation saved with /save.")] = None,
    device: DEVICE = "auto",
    draft: DRAFT = None,
    draft_k: DRAFT_K = 4,
    precision: INFER_PRECISION = "fp32",
    pack: PACK = True,
) -> None:
    """Chat with a model: multi-turn, streamed, with memory that fits the context window.

    Commands: /reset (forget the conversation), /save FILE, /load FILE (JSON), /quit (or Ctrl-D).
    """
    from lmforge.devices import resolve_device
    from lmforge.infer.chat import ChatSession, chat_format_for
    from lmforge.infer.loading import load_for_generation
    from lmforge.infer.sampling import SamplingConfig

    engine, tokenizer = load_for_generation(model_dir, resolve_device(device), draft, draft_k, precision, pack)
    config = SamplingConfig(max_tokens, temperature, top_k, top_p, frozenset({tokenizer.eos_id} - {None}), seed)
    session = ChatSession(engine, tokenizer, chat_format_for(tokenizer, chat_format, model_dir), config, system)
    if load:
        session.conversation.load(load)
    typer.echo(f"chatting with {model_dir} ({session.format.name} format, context {engine.context_length} tokens). "
               "/reset, /save FILE, /load FILE, /quit")
    while True:
        try:
            line = input("> ")
        except EOFError:
            break
        command, _, arg = line.strip().partition(" ")
        try:
            if command == "/quit":
                break
            if command == "/reset":
                session.conversation.reset()
                typer.echo("(transcript cleared)")
            elif command in ("/save", "/load") and not arg.strip():
                typer.echo(f"usage: {command} FILE")
            elif command == "/save":
                session.conversation.save(arg.strip())
                typer.echo(f"(saved to {arg.strip()})")
            elif command == "/load":
                session.conversation.load(arg.strip())
                typer.echo(f"(loaded {arg.strip()}: {len(session.conversation.turns)} messages)")
            else:
                _stream_reply(session, line)
        except LmforgeError as e:  # a bad file or a too-long message: say so and keep chatting
            typer.echo(f"error: {e}", err=True)


def _stream_reply(session, text: str) -> None:
    """Print the reply as it streams; Ctrl-C stops it (what was shown is kept) and the chat goes on."""
    reply = session.send(text)
    try:
        first = next(reply, "")  # the prompt is built (and old turns dropped) before the first piece
        if session.dropped:
            typer.echo(f"(dropped {session.dropped} oldest message(s) to fit the context)")
        sys.stdout.write(first)
        for piece in reply:
            sys.stdout.write(piece)
            sys.stdout.flush()
    except KeyboardInterrupt:
        reply.close()
        sys.stdout.write(" (stopped)")
    sys.stdout.write("\n")
