"""``lmforge rag ...``: index files into a vector store, search it, ask a model with cited sources.

Argument parsing only; the runs are in :mod:`lmforge.recipes.rag`, the pieces in :mod:`lmforge.rag`.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from lmforge.cli.options import DEVICE
from lmforge.errors import DataError

app = typer.Typer(help="Retrieval: index files, search them (BM25, dense, hybrid), ask with citations.",
                  no_args_is_help=True)

StoreOpt = Annotated[Path | None, typer.Option("--store", "-s", help="Embedded store folder (created by index).")]
QdrantOpt = Annotated[str | None, typer.Option(
    "--qdrant-url", help="A Qdrant server or cluster (e.g. http://localhost:6333) instead of --store: the same "
    "chunks and vectors, stored and searched by Qdrant, for collections that outgrow one machine.")]
CollectionOpt = Annotated[str, typer.Option(help="Qdrant collection name (with --qdrant-url).")]
EmbedOpt = Annotated[Path | None, typer.Option(
    "--embed-model", help="Sentence encoder model directory; default all-MiniLM-L6-v2 (bundled). A store only "
    "accepts the encoder it was built with.")]


class SearchMode(StrEnum):
    bm25 = "bm25"
    dense = "dense"
    hybrid = "hybrid"


class ChunkBy(StrEnum):
    sentences = "sentences"
    tokens = "tokens"


def _spec(store: Path | None, qdrant_url: str | None, collection: str):
    from lmforge.recipes.rag import StoreSpec
    return StoreSpec(store, qdrant_url, collection)


@app.command()
def index(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (.txt .md .html .jsonl .pdf).")],
    store: StoreOpt = None,
    qdrant_url: QdrantOpt = None,
    collection: CollectionOpt = "lmforge",
    chunk_by: Annotated[ChunkBy, typer.Option(help="Chunk by whole sentences or by word tokens.")] = ChunkBy.sentences,
    chunk_size: Annotated[int | None, typer.Option(help="Max characters (sentences; 800) or tokens (tokens; 128).")
                          ] = None,
    overlap: Annotated[int | None, typer.Option(help="Sentences (1) or tokens (16) shared by neighbouring chunks.")
                       ] = None,
    embed_model: EmbedOpt = None,
    device: DEVICE = "auto",
) -> None:
    """Index PATHS into a store: load, chunk, embed, save. Re-indexing replaces changed files, skips unchanged ones.

    Example: lmforge rag index docs/ notes.md --store runs/store
    """
    from lmforge.devices import resolve_device
    from lmforge.recipes.rag import index as run
    run_device = resolve_device(device)
    report = run(paths, _spec(store, qdrant_url, collection), chunk_by.value, chunk_size, overlap, embed_model,
                 device=run_device)
    typer.echo(f"indexed {report.documents} documents ({report.chunks} chunks), {report.unchanged} unchanged; "
               f"the store holds {report.total_chunks} chunks")


@app.command()
def delete(
    paths: Annotated[list[Path], typer.Argument(help="Files whose documents leave the store (as indexed).")],
    store: StoreOpt = None,
    qdrant_url: QdrantOpt = None,
    collection: CollectionOpt = "lmforge",
    embed_model: EmbedOpt = None,
) -> None:
    """Remove files' chunks from a store (to update a file, index it again instead).

    Example: lmforge rag delete docs/old.md --store runs/store
    """
    from lmforge.recipes.rag import delete as run
    documents, chunks = run(paths, _spec(store, qdrant_url, collection), embed_model)
    typer.echo(f"removed {documents} documents ({chunks} chunks)")


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise DataError(f"--where {text!r}: expected KEY=VALUE")
    return key, value


def _read_queries(path: Path) -> list[str]:
    from lmforge.io import read_text
    queries = [line.strip() for line in read_text(path).splitlines() if line.strip()]
    if not queries:
        raise DataError(f"{path}: no queries in it (expected one query per line)")
    return queries


@app.command()
def search(
    query: Annotated[str | None, typer.Argument(help="The query (or use --queries FILE).")] = None,
    store: StoreOpt = None,
    qdrant_url: QdrantOpt = None,
    collection: CollectionOpt = "lmforge",
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Hits per query.")] = 5,
    mode: Annotated[SearchMode, typer.Option(help="bm25 (words), dense (MiniLM vectors), hybrid (both, fused by "
                                                  "reciprocal rank).")] = SearchMode.hybrid,
    queries: Annotated[Path | None, typer.Option(help="A file with one query per line: one JSON line out per "
                                                      "query, in order.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object: the query and its hits.")] = False,
    where: Annotated[list[str] | None, typer.Option(help="Metadata filter KEY=VALUE (repeatable; all must match), "
                                                         "e.g. source=docs/a.md (the path as given to `rag "
                                                         "index`) or a JSONL field: lang=en.")] = None,
    embed_model: EmbedOpt = None,
    device: DEVICE = "auto",
) -> None:
    """Search a store. Each hit: score, source file, character offsets, text.

    Example: lmforge rag search "who founded the city?" --store runs/store --top-k 5 --mode hybrid
    """
    from lmforge.devices import resolve_device
    from lmforge.recipes.rag import open_retriever
    if (query is None) == (queries is None):
        raise DataError("give either a QUERY or --queries FILE")
    run_device = resolve_device(device)
    texts = _read_queries(queries) if queries else [query]
    retriever = open_retriever(_spec(store, qdrant_url, collection), embed_model, device=run_device)
    filters = dict(_key_value(w) for w in where or [])
    for text, hits in zip(texts, retriever.search_many(texts, top_k, mode.value, filters or None), strict=True):
        if as_json or queries:
            typer.echo(json.dumps({"query": text, "hits": [h.to_json() for h in hits]}, ensure_ascii=False))
            continue
        for rank, hit in enumerate(hits, 1):
            snippet = " ".join(hit.chunk.text.split())
            typer.echo(f"{rank}. {hit.score:.4f}  {hit.chunk.where}\n   {snippet[:300]}")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    store: StoreOpt = None,
    qdrant_url: QdrantOpt = None,
    collection: CollectionOpt = "lmforge",
    model: Annotated[Path | None, typer.Option(help="Chat model directory; default SmolLM2-135M-Instruct when "
                                                    "installed.")] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Chunks shown to the model.")] = 4,
    mode: Annotated[SearchMode, typer.Option(help="How to retrieve the chunks.")] = SearchMode.hybrid,
    max_tokens: Annotated[int, typer.Option(min=1, help="Longest answer, in tokens.")] = 200,
    agent: Annotated[bool, typer.Option(help="Let the model call tools (search the store, a calculator) in a "
                                             "loop before answering.")] = False,
    max_steps: Annotated[int, typer.Option(min=1, help="With --agent: most model turns (tool calls) before "
                                                       "giving up.")] = 4,
    embed_model: EmbedOpt = None,
    device: DEVICE = "auto",
) -> None:
    """Answer QUESTION from the store's best chunks, citing them as [1], [2]... resolved to file and offsets.

    Example: lmforge rag ask "When was the university founded?" --store runs/store
    """
    from lmforge.devices import resolve_device
    from lmforge.recipes.rag import ask as run
    from lmforge.recipes.rag import ask_agent, open_retriever
    run_device = resolve_device(device)
    retriever = open_retriever(_spec(store, qdrant_url, collection), embed_model, device=run_device)
    if agent:
        result = ask_agent(retriever, question, model, top_k, max_steps, max_tokens, mode=mode.value,
                           device=run_device)
        for step in result.steps:
            typer.echo(f"[tool] {step['tool']}({json.dumps(step['arguments'], ensure_ascii=False)}) -> "
                       f"{step['result'][:200]!r}", err=True)
    else:
        result = run(retriever, question, model, top_k, mode.value, max_tokens, device=run_device)
    typer.echo(result.text)
    lines = ([c.describe() for c in result.citations] or
             [f"[{i}] {hit.chunk.where}" for i, hit in enumerate(result.sources, 1)])
    if lines:
        typer.echo("\nsources cited:" if result.citations else "\nno source cited; the sources shown to the model:")
    for line in lines:
        typer.echo(f"  {line}")
    if agent and not result.steps:
        typer.echo("(the model called no tool)", err=True)
