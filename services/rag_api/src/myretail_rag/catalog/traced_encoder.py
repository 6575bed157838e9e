"""The local sentence embedding model on CPU, its transformer traced with TorchScript.

Why not sentence-transformers' ``encode``: in eager PyTorch each of the model's few hundred
small operations gives Python's GIL back and takes it again, and in the service the event
loop holds the GIL much of the time, so every one of them waits. Under load a batch of
query embeddings took 2-3x as long as it does alone. A TorchScript graph runs as one call
without the GIL: with a busy Python thread beside it, a batch of 8 takes 20 ms either way,
against 22 ms alone and 31 ms beside it in eager mode (all-MiniLM-L6-v2, one thread).

The steps are the model's own, read from its sentence-transformers files: tokenize (up to
``max_seq_length`` tokens), the transformer, mean pooling over the real tokens (padding
left out), unit length. The tests compare the vectors with sentence-transformers'.

The traced graph is shared; the fast tokenizer is not (a second thread using it at the
same time fails, huggingface/tokenizers#537): :meth:`TracedEncoder.sibling` gives another
encoder with a tokenizer of its own for another thread.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Two lengths, so the example batch has padding (see _trace).
_TRACE_EXAMPLE = ["a padded example", "an example of a question that is a good deal longer"]


class TracedEncoder(Embeddings):
    """Unit-length sentence embeddings from a traced mean-pooling transformer."""

    def __init__(
        self, path: Path, graph: Any, max_length: int, batch_size: int, tokenizer: Any = None
    ) -> None:
        self.path = path
        self.graph = graph
        self.max_length = max_length
        self.batch_size = max(1, batch_size)
        self.tokenizer = tokenizer if tokenizer is not None else _tokenizer(path)

    @classmethod
    def load(cls, path: Path, batch_size: int) -> TracedEncoder:
        """Trace the sentence-transformers model in ``path`` (mean pooling only)."""
        max_length = _check_mean_pooling(path)
        tokenizer = _tokenizer(path)
        example = _tokens(tokenizer, _TRACE_EXAMPLE, max_length)
        return cls(path, _trace(path, example), max_length, batch_size, tokenizer)

    def sibling(self) -> TracedEncoder:
        """Another encoder on the same graph, with a tokenizer of its own."""
        return TracedEncoder(self.path, self.graph, self.max_length, self.batch_size)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            vectors.extend(self._embed(texts[start : start + self.batch_size]))
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self._embed([text])[0]

    def _embed(self, texts: list[str]) -> list[list[float]]:
        import torch

        tokens = _tokens(self.tokenizer, texts, self.max_length)
        with torch.inference_mode():
            hidden = self.graph(*(tokens[name] for name in _INPUTS))
            mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            unit = torch.nn.functional.normalize(mean, p=2, dim=1)
        rows: list[list[float]] = unit.tolist()
        return rows


def _check_mean_pooling(path: Path) -> int:
    """The model's ``max_seq_length``; refuses a model that is not transformer + mean
    pooling + normalize (the only pipeline traced here)."""
    modules = [entry["type"].rsplit(".", 1)[-1] for entry in _json(path / "modules.json")]
    pooling = _json(path / "1_Pooling" / "config.json")
    modes = {key for key, on in pooling.items() if key.startswith("pooling_mode_") and on}
    if modules != ["Transformer", "Pooling", "Normalize"] or modes != {"pooling_mode_mean_tokens"}:
        raise ValueError(
            f"{path}: only a transformer with mean pooling and normalization can be traced "
            f"(modules {modules}, pooling {sorted(modes)})"
        )
    return int(_json(path / "sentence_bert_config.json")["max_seq_length"])


def _json(path: Path) -> Any:
    return json.loads(path.read_text())


def _tokenizer(path: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)


def _tokens(tokenizer: Any, texts: list[str], max_length: int) -> Any:
    """The model's inputs for ``texts``: padded to the longest, cut at ``max_length``."""
    return tokenizer(
        texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
    )


def _trace(path: Path, example: Any) -> Any:
    """The transformer as a TorchScript graph: (ids, mask, types) -> last hidden state.

    Eager attention takes the padding mask as it is, for every batch: the traced graph
    must not keep a shortcut that one example batch (say, one without padding) allowed.
    """
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(
        str(path), local_files_only=True, attn_implementation="eager"
    ).eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=token_type_ids,
                use_cache=False,
            ).last_hidden_state

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings on shape arithmetic, checked in tests
        return torch.jit.trace(
            LastHiddenState().eval(), tuple(example[name] for name in _INPUTS), check_trace=False
        )
