"""``lmforge serve``: the OpenAI-compatible server for one model directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lmforge.cli.options import DEVICE, INFER_PRECISION, PACK
from lmforge.errors import ConfigError


def serve(
    model_dir: Annotated[Path, typer.Argument(help="Model directory (config.json, model.safetensors, tokenizer.json)")],
    host: Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0 = every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    api_key: Annotated[str | None, typer.Option(envvar="LMFORGE_API_KEY",
                                                help="Require 'Authorization: Bearer KEY' on /v1 routes.")] = None,
    max_concurrency: Annotated[int, typer.Option(
        help="Generations run at once: for a Transformer, the rows of one batched decoding step.")] = 4,
    max_queue: Annotated[int, typer.Option(help="Requests that may wait beyond those; more get 429.")] = 64,
    max_tokens: Annotated[int, typer.Option(help="Most new tokens one request may ask for.")] = 2048,
    max_seq_len: Annotated[int, typer.Option(
        help="Positions per request (prompt + reply) in the KV cache, at most the model's context length. The "
             "cache holds --max-concurrency of them, allocated at start: that is its memory bound.")] = 4096,
    max_body_bytes: Annotated[int, typer.Option(help="Largest request body accepted (413 above).")] = 1_000_000,
    model_name: Annotated[str | None, typer.Option(help="Model id clients use (default: the directory name).")] = None,
    chat_format: Annotated[str, typer.Option("--format", help="Chat prompt format: auto, chatml or plain.")] = "auto",
    rag_store: Annotated[Path | None, typer.Option(help="A store built by `lmforge rag index`: also serve POST "
                                                        "/v1/rag/search and /v1/rag/answer (cited answers).")] = None,
    device: DEVICE = "auto",
    precision: INFER_PRECISION = "fp32",
    pack: PACK = True,
    threads: Annotated[int | None, typer.Option(min=1, help="Threads for the model's matrix products (default: "
                                                "torch's, one per core). Fewer leave cores to the HTTP side; on 2 "
                                                "cores 1 thread served one request as fast as 2 but 8 requests "
                                                "slower (docs/serving.md).")] = None,
) -> None:
    """Serve a model over an OpenAI-compatible API, with a web chat page at / and metrics at /metrics."""
    import torch
    import uvicorn

    from lmforge.devices import resolve_device
    from lmforge.serve.app import ServerConfig, create_app
    from lmforge.serve.backend import ModelBackend
    from lmforge.serve.task_routes import load_backend

    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be in 0..65535, got {port}")
    # a fine-tuned classify/NER/QA directory is served on /v1/classify, /v1/ner or /v1/qa
    run_device = resolve_device(device)
    if threads is not None:
        torch.set_num_threads(threads)
    backend = load_backend(model_dir, model_name, lambda: ModelBackend(model_dir, model_name, chat_format, run_device,
                                                                       precision, max_concurrency, pack))
    config = ServerConfig(api_key, max_concurrency, max_queue, max_body_bytes, max_tokens, max_seq_len=max_seq_len)
    retriever = None
    if rag_store is not None:
        from lmforge.recipes.rag import StoreSpec, open_retriever
        retriever = open_retriever(StoreSpec(rag_store), device=run_device)
    app = create_app(backend, config, retriever)
    typer.echo(f"serving '{backend.name}' on http://{host}:{port}  (chat page: /, API: /v1, metrics: /metrics)")
    if batcher := app.state.server.batcher:
        engine = batcher.engine
        typer.echo(f"continuous batching: up to {engine.max_batch} requests per step, KV cache "
                   f"({engine.max_batch} + 1 prefix) x {engine.max_len} positions = "
                   f"{engine.cache.nbytes / 2**20:,.0f} MiB")
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=10)
