"""Document knowledge base: loaders, chunking, embeddings, Chroma + BM25 stores, incremental
ingestion and hybrid retrieval with per-document access groups."""

from connectors.knowledge.bm25 import PUBLIC, BM25Index, KeywordHit
from connectors.knowledge.chunking import Chunk, chunk_document
from connectors.knowledge.embeddings import Embedder, HashingEmbedder, MiniLMEmbedder, build_embedder
from connectors.knowledge.index import DocumentSearch, KnowledgeIndex
from connectors.knowledge.ingest import Ingestor, IngestReport, rich_progress
from connectors.knowledge.loaders import Document, DocumentError, Section, load_document
from connectors.knowledge.retrieval import MODES, Hit, Mode, Passage, Retriever, group_filter
from connectors.knowledge.store import DEFAULT_COLLECTION, ChromaStore, StoredChunk, VectorHit

__all__ = [
    "DEFAULT_COLLECTION",
    "MODES",
    "PUBLIC",
    "BM25Index",
    "ChromaStore",
    "Chunk",
    "Document",
    "DocumentError",
    "DocumentSearch",
    "Embedder",
    "HashingEmbedder",
    "Hit",
    "IngestReport",
    "Ingestor",
    "KeywordHit",
    "KnowledgeIndex",
    "MiniLMEmbedder",
    "Mode",
    "Passage",
    "Retriever",
    "Section",
    "StoredChunk",
    "VectorHit",
    "build_embedder",
    "chunk_document",
    "group_filter",
    "load_document",
    "rich_progress",
]
