"""Next-token choice for a whole batch at once, on the model's device.

Every row of a batch carries its own sampling parameters (temperature, top-k, top-p,
repetition penalty, end-of-sequence allowed or not, seed) as tensors in
:class:`RowSampling`, so one step is a handful of batched tensor operations whatever the
mix of requests: no per-row loop, no host copy, no device synchronisation.

Randomness is counter-based: a row's random number for its next token is a hash of (the
row's seed, how many tokens the row has generated). A seeded request therefore draws the
same tokens whoever shares its batch, and no generator state has to move with rows as
they join and leave. The draw is by inverse transform: the first token whose cumulative
probability (in float64, exact enough for a 128k vocabulary) reaches the row's uniform
number — one random number per row, not one per vocabulary entry. Rows with
temperature 0 take the plain argmax.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from myretail_inference.engine_api import SamplingParams

_MASK32 = 0xFFFFFFFF
_LOW16 = 0xFFFF


def _mul32(x: torch.Tensor, constant: int) -> torch.Tensor:
    """``x * constant mod 2**32`` for int64 ``x`` in [0, 2**32), without int64 overflow."""
    low = (x & _LOW16) * constant
    high = ((x >> 16) * constant) & _LOW16
    return (low + (high << 16)) & _MASK32


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """A bijective 32-bit integer hash with good avalanche (Wellons' "lowbias32")."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def uniforms(seeds: torch.Tensor, counters: torch.Tensor) -> torch.Tensor:
    """``[rows]`` float64 uniforms in (0, 1) with 53 random bits, a pure function of
    (seed, counter): ``seeds`` are int64 in [0, 2**63), ``counters`` the rows' generated
    token counts."""
    low = seeds & _MASK32
    high = (seeds >> 32) & _MASK32
    key = _mix32(_mix32(low ^ 0x243F6A88) ^ high)
    key = _mix32(key ^ (counters & _MASK32))
    first = _mix32(key ^ 0x9E3779B9) >> 5  # 27 bits
    second = _mix32(key ^ 0x85EBCA6B) >> 6  # 26 bits
    bits = first.to(torch.float64) * float(1 << 26) + second.to(torch.float64)
    return (bits + 0.5) * (1.0 / (1 << 53))


def new_seed(requested: int | None) -> int:
    """The row's 64-bit seed: the request's own, else a fresh random one."""
    if requested is None:
        return secrets.randbits(63)
    return requested & ((1 << 63) - 1)


@dataclass
class RowSampling:
    """The sampling parameters of every row of a batch, as device tensors.

    The plain booleans say which optional steps any row needs, so a batch of greedy
    requests pays for an argmax only.
    """

    temperature: torch.Tensor  # [rows] float32; 0 = greedy
    top_p: torch.Tensor  # [rows] float32
    top_k: torch.Tensor  # [rows] int64; 0 = no limit
    penalty: torch.Tensor  # [rows, 1] float32; 1 = none
    ignore_eos: torch.Tensor  # [rows] bool
    seeds: torch.Tensor  # [rows] int64
    any_sampled: bool
    any_truncation: bool
    any_penalty: bool
    any_ignore_eos: bool

    @classmethod
    def build(
        cls, params: Sequence[SamplingParams], seeds: Sequence[int], device: torch.device
    ) -> RowSampling:
        def column(values: Sequence[float], dtype: torch.dtype) -> torch.Tensor:
            return torch.tensor(values, dtype=dtype).to(device, non_blocking=True)

        return cls(
            temperature=column([p.temperature for p in params], torch.float32),
            top_p=column([p.top_p for p in params], torch.float32),
            top_k=column([p.top_k for p in params], torch.int64),
            penalty=column([p.repetition_penalty for p in params], torch.float32)[:, None],
            ignore_eos=column([p.ignore_eos for p in params], torch.bool),
            seeds=column(list(seeds), torch.int64),
            any_sampled=any(p.temperature > 0 for p in params),
            any_truncation=any(p.temperature > 0 and (p.top_p < 1 or p.top_k) for p in params),
            any_penalty=any(p.repetition_penalty != 1.0 for p in params),
            any_ignore_eos=any(p.ignore_eos for p in params),
        )

    def cat(self, other: RowSampling) -> RowSampling:
        return RowSampling(
            temperature=torch.cat([self.temperature, other.temperature]),
            top_p=torch.cat([self.top_p, other.top_p]),
            top_k=torch.cat([self.top_k, other.top_k]),
            penalty=torch.cat([self.penalty, other.penalty]),
            ignore_eos=torch.cat([self.ignore_eos, other.ignore_eos]),
            seeds=torch.cat([self.seeds, other.seeds]),
            any_sampled=self.any_sampled or other.any_sampled,
            any_truncation=self.any_truncation or other.any_truncation,
            any_penalty=self.any_penalty or other.any_penalty,
            any_ignore_eos=self.any_ignore_eos or other.any_ignore_eos,
        )

    def select(self, index: torch.Tensor, kept: Sequence[SamplingParams]) -> RowSampling:
        """The rows at ``index`` (whose parameters are ``kept``, for the flags)."""
        return RowSampling(
            temperature=self.temperature[index],
            top_p=self.top_p[index],
            top_k=self.top_k[index],
            penalty=self.penalty[index],
            ignore_eos=self.ignore_eos[index],
            seeds=self.seeds[index],
            any_sampled=any(p.temperature > 0 for p in kept),
            any_truncation=any(p.temperature > 0 and (p.top_p < 1 or p.top_k) for p in kept),
            any_penalty=any(p.repetition_penalty != 1.0 for p in kept),
            any_ignore_eos=any(p.ignore_eos for p in kept),
        )

    def choose(
        self,
        logits: torch.Tensor,
        counters: torch.Tensor,
        seen: torch.Tensor,
        eos_ids: torch.Tensor,
    ) -> torch.Tensor:
        """The next token of every row. ``logits`` [rows, vocab] float32 (changed in place).

        ``counters`` [rows]: tokens each row generated so far (the noise counter);
        ``seen`` [rows, vocab] bool: tokens of the prompt and the answer so far (for the
        repetition penalty); ``eos_ids``: end-of-sequence tokens, banned where
        ``ignore_eos``.
        """
        if self.any_penalty:
            penalized = torch.where(logits < 0, logits * self.penalty, logits / self.penalty)
            logits = torch.where(seen, penalized, logits)
        if self.any_ignore_eos:
            banned = logits[:, eos_ids].masked_fill(self.ignore_eos[:, None], float("-inf"))
            logits[:, eos_ids] = banned
        greedy = logits.argmax(dim=-1)
        if not self.any_sampled:
            return greedy
        sampled = self._sample(logits, counters)
        return torch.where(self.temperature > 0, sampled, greedy)

    def _sample(self, logits: torch.Tensor, counters: torch.Tensor) -> torch.Tensor:
        logits = torch.nan_to_num(logits, nan=float("-inf"))
        temperature = torch.where(self.temperature > 0, self.temperature, 1.0)[:, None]
        # Shifted first, so a tiny temperature sends every other token to -inf, never NaN.
        scaled = (logits - logits.max(dim=-1, keepdim=True).values) / temperature
        if self.any_truncation:
            scaled = self._truncate(scaled)
        cumulative = scaled.softmax(dim=-1).to(torch.float64).cumsum(dim=-1)
        target = uniforms(self.seeds, counters) * cumulative[:, -1]
        tokens = torch.searchsorted(cumulative, target[:, None]).squeeze(-1)
        return tokens.clamp(max=scaled.shape[-1] - 1)

    def _truncate(self, scaled: torch.Tensor) -> torch.Tensor:
        """Keep the top-k tokens, then the smallest set reaching top-p (always the best)."""
        ordered = scaled.sort(dim=-1, descending=True).values
        rank = torch.arange(ordered.shape[-1], device=ordered.device)[None, :]
        top_k = torch.where(self.top_k > 0, self.top_k, ordered.shape[-1])[:, None]
        ordered = ordered.masked_fill(rank >= top_k, float("-inf"))
        probabilities = ordered.softmax(dim=-1)
        before = probabilities.cumsum(dim=-1) - probabilities
        keep = (before < self.top_p[:, None]) & (rank < top_k)
        last = (keep.sum(dim=-1, keepdim=True) - 1).clamp(min=0)
        threshold = ordered.gather(-1, last)
        return scaled.masked_fill(scaled < threshold, float("-inf"))
