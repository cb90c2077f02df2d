"""Retrieval-augmented generation: load -> chunk -> embed -> store -> retrieve (-> cited answers).

>>> docs = load_documents(["notes/"], warn=print)                       # doctest: +SKIP
>>> retriever = Retriever(EmbeddedStore("store/"), encoder, warn=print)  # doctest: +SKIP
>>> retriever.index(docs); retriever.search("who wrote it?", k=5, mode="hybrid")  # doctest: +SKIP
"""

from lmforge.rag.bm25 import BM25, bm25_terms
from lmforge.rag.chunking import Chunk, chunk_document, chunk_sentences, chunk_tokens
from lmforge.rag.documents import Document, load_documents
from lmforge.rag.retriever import MODES, Hit, IndexReport, Retriever, reciprocal_rank_fusion
from lmforge.rag.stores import EmbeddedStore, VectorStore

__all__ = ["BM25", "MODES", "Chunk", "Document", "EmbeddedStore", "Hit", "IndexReport", "Retriever", "VectorStore",
           "bm25_terms", "chunk_document", "chunk_sentences", "chunk_tokens", "load_documents",
           "reciprocal_rank_fusion"]
