"""Canary adapters: CANARY_WEIGHT percent of sessions answered by CANARY_TAG, sticky per
session, and every answer names its tag (``model``, ``X-Model-Tag``, the metrics).

The split is measured on the router over many sessions, then end to end over HTTP through
the gateway (a few hundred sessions at weights 0, 10 and 100) and on the native engine.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from typing import Any

import httpx
import pytest

from myretail_inference.app import create_app
from myretail_inference.canary import TagRouter
from myretail_inference.engine import BatchingEngine
from myretail_inference.loader import LoadedModel
from myretail_inference.settings import InferenceSettings
from myretail_testkit.gateway import remote_settings, serve_gateway
from myretail_testkit.inference import start_engine
from myretail_testkit.openai_upstream import OpenAIUpstream
from myretail_testkit.servers import LiveServer

SESSIONS = [f"session-{number}" for number in range(10_000)]


@pytest.mark.parametrize("weight", [0, 1, 10, 50, 90, 100])
def test_the_split_follows_the_weight(weight: int) -> None:
    router = TagRouter("v1", "v2", weight)
    share = sum(router.choose(key) == "v2" for key in SESSIONS) / len(SESSIONS)
    assert abs(share - weight / 100) < 0.02


def test_sessions_are_sticky_and_a_higher_weight_only_adds_sessions() -> None:
    low, high = TagRouter("v1", "v2", 10), TagRouter("v1", "v2", 30)
    assert [low.choose(key) for key in SESSIONS] == [low.choose(key) for key in SESSIONS]
    on_canary = {key for key in SESSIONS if low.choose(key) == "v2"}
    assert all(high.choose(key) == "v2" for key in on_canary)
    other = TagRouter("v1", "v3", 10)  # a new canary draws its own sessions
    assert on_canary != {key for key in SESSIONS if other.choose(key) == "v3"}


def test_requests_without_a_session_are_split_one_by_one() -> None:
    choices = Counter(TagRouter("v1", "v2", 50).choose(None) for _ in range(2000))
    assert 800 < choices["v2"] < 1200
    assert TagRouter("v1").choose("anyone") == "v1"  # no canary


# -- end to end ------------------------------------------------------------------------------


def ask(server: LiveServer, session: str | None = None, **body: Any) -> httpx.Response:
    headers = {"X-Session-Id": session} if session else {}
    payload = {"prompt": "Tiers", "max_tokens": 1, **body}
    answer = httpx.post(f"{server.url}/v1/completions", json=payload, headers=headers, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer


def tag_of(answer: httpx.Response) -> str:
    tag = answer.headers["X-Model-Tag"]
    assert answer.json()["model"] == f"loyalty-assistant:{tag}"
    return tag


def requests_of(server: LiveServer, tag: str) -> float:
    metrics = httpx.get(f"{server.url}/metrics").text
    pattern = rf'^inference_requests_total{{outcome="(?:stop|length)",tag="{tag}"}} (\S+)$'
    return sum(float(value) for value in re.findall(pattern, metrics, re.MULTILINE))


@pytest.fixture(scope="module")
def canary_gateway(
    settings: InferenceSettings, upstream: OpenAIUpstream, tagged_store: str
) -> Iterator[Callable[[int], LiveServer]]:
    """Gateways with canary v2 at a given weight (one per weight, for the module)."""
    made: dict[int, LiveServer] = {}
    with ExitStack() as stack:

        def at(weight: int) -> LiveServer:
            if weight not in made:
                split = {"canary_tag": "v2", "canary_weight": weight}
                gateway = serve_gateway(remote_settings(settings, upstream, tagged_store, **split))
                made[weight] = stack.enter_context(gateway)
            return made[weight]

        yield at


@pytest.mark.parametrize(
    ("weight", "sessions", "low", "high"), [(0, 40, 0, 0), (10, 300, 15, 45), (100, 40, 40, 40)]
)
def test_the_gateway_splits_sessions_and_names_the_tag(
    canary_gateway: Callable[[int], LiveServer],
    upstream: OpenAIUpstream,
    weight: int,
    sessions: int,
    low: int,
    high: int,
) -> None:
    gateway = canary_gateway(weight)
    before = len(upstream.completions())
    tags = {f"user-{n}": tag_of(ask(gateway, f"user-{n}")) for n in range(sessions)}
    on_canary = sum(tag == "v2" for tag in tags.values())
    assert low <= on_canary <= high
    sent = [one.body["model"] for one in upstream.completions()[before:]]
    assert sent == [f"loyalty-assistant-{tag}" for tag in tags.values()]  # the right adapter
    assert requests_of(gateway, "v2") == on_canary
    assert requests_of(gateway, "v1") == sessions - on_canary


def test_a_session_keeps_its_tag_by_header_or_user_field(
    canary_gateway: Callable[[int], LiveServer],
) -> None:
    gateway = canary_gateway(50)
    for n in range(12):
        by_header = {tag_of(ask(gateway, f"s-{n}")) for _ in range(3)}
        by_user = {tag_of(ask(gateway, user=f"s-{n}")) for _ in range(3)}
        assert len(by_header) == 1 and by_header == by_user
    pinned = ask(gateway, "s-0", model="loyalty-assistant:v2")  # a tag named outright
    assert tag_of(pinned) == "v2"
    metrics = httpx.get(f"{gateway.url}/metrics").text
    for tag in ("v1", "v2"):
        labels = f'device="remote",model="loyalty-assistant",quantization="none",tag="{tag}"'
        assert f"inference_model_info{{{labels}}} 1.0" in metrics


def test_the_native_engine_serves_a_canary_too(
    settings: InferenceSettings, loaded: LoadedModel
) -> None:
    canary_info = replace(loaded.info, tag="v2")
    canary = BatchingEngine(loaded.model, loaded.tokenizer, canary_info, max_batch_size=4)
    canary.warmup()
    stable = start_engine(loaded, max_batch_size=4)
    split = settings.model_copy(update={"canary_tag": "v2", "canary_weight": 100})
    try:
        with LiveServer(create_app(split, stable, canary=canary)) as server:
            assert tag_of(ask(server, "anyone")) == "v2"
            assert tag_of(ask(server, "anyone", model="loyalty-assistant:v1")) == "v1"
            answer = httpx.post(f"{server.url}/generate", json={"prompt": "Tiers?"}, timeout=60)
            assert answer.headers["X-Model-Tag"] == "v2"
            assert answer.json()["model"] == "loyalty-assistant:v2"
            ids = [card["id"] for card in httpx.get(f"{server.url}/v1/models").json()["data"]]
            assert ids == ["loyalty-assistant", "loyalty-assistant:v1", "loyalty-assistant:v2"]
            metrics = httpx.get(f"{server.url}/metrics").text
            assert requests_of(server, "v2") == 2 and requests_of(server, "v1") == 1
            assert "inference_kv_cache_usage_ratio" in metrics
    finally:
        stable.stop()
        canary.stop()


def test_without_a_canary_the_model_list_is_unchanged(server: LiveServer) -> None:
    ids = [card["id"] for card in httpx.get(f"{server.url}/v1/models").json()["data"]]
    assert ids == ["loyalty-assistant"]
