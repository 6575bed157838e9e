"""The gateway (``ENGINE=remote``) over real HTTP: the same API in front of a model server.

The upstream is the live native server behind a vLLM-like router (see conftest.py): the
gateway must answer exactly what the native engine answers (greedy), stream through the
official ``openai`` client, send every generation parameter itself, keep its own limits
and error bodies, map the model server's errors (and its absence) to clear 4xx/5xx, and
hang up on the model server when its own client does.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import openai
import pytest

from myretail_common.prompt import STOP_SEQUENCES, build_prompt
from myretail_inference.settings import InferenceSettings
from myretail_testkit.gateway import remote_settings, serve_gateway
from myretail_testkit.openai_upstream import OpenAIUpstream
from myretail_testkit.servers import LiveServer

CHAT = {"messages": [{"role": "user", "content": "What are the MyElite tiers?"}]}


def post(server: LiveServer, path: str, body: dict[str, Any], **extra: Any) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=body, timeout=60, **extra)


def test_answers_equal_the_native_engines(
    server: LiveServer, gateway: LiveServer, questions: list[str]
) -> None:
    for question in questions:
        body = {"prompt": question, "max_new_tokens": 24}
        direct, through = post(server, "/generate", body), post(gateway, "/generate", body)
        assert through.status_code == 200, through.text
        assert through.json()["response"] == direct.json()["response"]
        assert through.json()["usage"] == direct.json()["usage"]
        assert through.json()["finish_reason"] == direct.json()["finish_reason"]
        assert through.headers["X-Model-Tag"] == "v1"
    chat = {**CHAT, "temperature": 0, "max_tokens": 20}
    direct, through = (
        post(server, "/v1/chat/completions", chat),
        post(gateway, "/v1/chat/completions", chat),
    )
    assert through.json()["choices"] == direct.json()["choices"]
    assert through.json()["usage"] == direct.json()["usage"]
    assert through.json()["model"] == "loyalty-assistant:v1"
    completion = {"prompt": "MyElite Gold members", "temperature": 0, "max_tokens": 12}
    direct = post(server, "/v1/completions", completion)
    through = post(gateway, "/v1/completions", completion)
    assert through.json()["choices"][0]["text"] == direct.json()["choices"][0]["text"]


def test_streams_through_the_openai_client(gateway: LiveServer) -> None:
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0)
    whole = client.chat.completions.create(
        model="loyalty-assistant", temperature=0, max_tokens=20, **CHAT
    )
    chunks = list(
        client.chat.completions.create(
            model="loyalty-assistant",
            temperature=0,
            max_tokens=20,
            stream=True,
            stream_options={"include_usage": True},
            **CHAT,
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].usage is not None and chunks[-1].usage == whole.usage
    assert {chunk.model for chunk in chunks} == {"loyalty-assistant:v1"}
    streamed = client.completions.create(
        model="loyalty-assistant:v1", prompt="MyElite", temperature=0, max_tokens=8, stream=True
    )
    assert "".join(c.choices[0].text for c in streamed if c.choices)


def test_the_gateway_sends_every_generation_parameter(
    gateway: LiveServer, upstream: OpenAIUpstream
) -> None:
    before = len(upstream.completions())
    body = {
        **CHAT,
        "temperature": 0.7,
        "top_p": 0.9,
        "top_k": 5,
        "seed": 42,
        "repetition_penalty": 1.2,
        "stop": ["Points"],
        "max_tokens": 6,
        "ignore_eos": True,
    }
    assert post(gateway, "/v1/chat/completions", body).status_code == 200
    assert post(gateway, "/generate", {"prompt": "Tiers?", "max_new_tokens": 3}).status_code == 200
    chat, generate = [one.body for one in upstream.completions()[before:]]
    assert chat["model"] == "loyalty-assistant-v1"
    assert chat["prompt"] == build_prompt("What are the MyElite tiers?")
    assert chat["stream"] is True and chat["stream_options"] == {"include_usage": True}
    assert chat["stop"] == [*STOP_SEQUENCES, "Points"]
    expected = {"temperature": 0.7, "top_p": 0.9, "top_k": 5, "seed": 42, "max_tokens": 6}
    assert {key: chat[key] for key in expected} == expected
    assert chat["repetition_penalty"] == 1.2 and chat["ignore_eos"] is True
    assert chat["skip_special_tokens"] is True
    # /generate's defaults are ours (the book's), sent explicitly, not the model's.
    assert generate["temperature"] == 0.0 and generate["repetition_penalty"] == 1.15
    assert generate["top_k"] == -1 and generate["top_p"] == 1.0 and "seed" not in generate
    assert generate["max_tokens"] == 3 and generate["ignore_eos"] is False


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/v1/completions", {"prompt": "x", "max_tokens": 100_000}, 400, None),
        (
            "/v1/completions",
            {"prompt": "points " * 700, "max_tokens": 4},
            400,
            "context_length_exceeded",
        ),
        ("/v1/chat/completions", {**CHAT, "model": "gpt-4o"}, 404, "model_not_found"),
        ("/v1/chat/completions", {**CHAT, "n": 2}, 400, "unsupported_parameter"),
        ("/generate", {"prompt": " "}, 422, None),
    ],
)
def test_limits_and_error_bodies_are_the_native_servers(
    server: LiveServer,
    gateway: LiveServer,
    upstream: OpenAIUpstream,
    path: str,
    body: dict[str, Any],
    status: int,
    code: str | None,
) -> None:
    before = len(upstream.completions())
    direct, through = post(server, path, body), post(gateway, path, body)
    assert through.status_code == direct.status_code == status
    direct_error, through_error = direct.json()["error"], through.json()["error"]
    through_error.pop("request_id", None), direct_error.pop("request_id", None)
    assert through_error == direct_error
    if code is not None:
        assert through_error["code"] == code
    assert len(upstream.completions()) == before  # refused before the model server


@pytest.mark.parametrize(
    ("upstream_status", "status", "words"),
    [
        (400, 400, "refused the request: bad sampling"),
        (429, 429, "at capacity"),
        (503, 503, "the model server is unavailable"),
        (500, 502, "failed with HTTP 500"),
        (404, 503, "does not serve loyalty-assistant-v1"),
    ],
)
def test_model_server_errors_are_mapped(
    gateway: LiveServer, upstream: OpenAIUpstream, upstream_status: int, status: int, words: str
) -> None:
    for stream in (False, True):  # a stream too gets the status, not a 200 and an event
        upstream.fail_next(upstream_status, "bad sampling")
        answer = post(gateway, "/v1/completions", {"prompt": "Tiers", "stream": stream})
        assert answer.status_code == status, answer.text
        assert words in answer.json()["error"]["message"]
    upstream.fail_next(upstream_status, "bad sampling")
    answer = post(gateway, "/generate", {"prompt": "Tiers"})
    assert answer.status_code == status
    assert words in answer.json()["error"]["message"]
    if status == 429:
        assert answer.headers["Retry-After"] == "1"


def test_model_server_down_is_a_503_until_it_returns(
    settings: InferenceSettings, server: LiveServer, tagged_store: str
) -> None:
    upstream = OpenAIUpstream({"loyalty-assistant-v1": server.url}).start()
    try:
        with serve_gateway(remote_settings(settings, upstream, tagged_store)) as gateway:
            upstream.stop()
            for body in ({"prompt": "Tiers"}, {"prompt": "Tiers", "stream": True}):
                path = "/v1/completions" if "stream" in body else "/generate"
                down = post(gateway, path, body)
                assert down.status_code == 503
                assert "cannot connect to the model server" in down.json()["error"]["message"]
                assert down.headers["Retry-After"]
            ready = httpx.get(f"{gateway.url}/readyz")
            assert ready.status_code == 503
            assert "unreachable" in ready.json()["checks"]["model_server"]
            upstream.start()  # the same port again
            assert post(gateway, "/generate", {"prompt": "Tiers"}).status_code == 200
            assert httpx.get(f"{gateway.url}/readyz").status_code == 200
    finally:
        upstream.stop()


def test_readiness_needs_the_adapter_on_the_model_server(
    settings: InferenceSettings, server: LiveServer, tagged_store: str
) -> None:
    with OpenAIUpstream({"loyalty-assistant-v9": server.url}) as upstream:
        gateway = remote_settings(settings, upstream, tagged_store)
        with (
            pytest.raises(AssertionError, match="does not serve loyalty-assistant-v1"),
            serve_gateway(gateway, timeout=3),
        ):
            pass


def test_a_client_that_leaves_cancels_the_upstream_request(
    gateway: LiveServer, upstream: OpenAIUpstream
) -> None:
    before = len(upstream.completions())
    upstream.chunk_delay = 0.05
    body = {"prompt": "MyElite", "max_tokens": 200, "ignore_eos": True, "stream": True}
    try:
        with httpx.stream("POST", f"{gateway.url}/v1/completions", json=body, timeout=30) as r:
            for line in r.iter_lines():
                if line.startswith("data: {"):
                    break  # the first chunk: hang up
        deadline = time.monotonic() + 20
        while not upstream.completions()[before:][0].disconnected:
            assert time.monotonic() < deadline, "the upstream request was not cancelled"
            time.sleep(0.05)
        assert not upstream.completions()[before].completed
    finally:
        upstream.chunk_delay = 0.0


def test_metrics_carry_the_tag_and_the_model_servers_device(gateway: LiveServer) -> None:
    assert post(gateway, "/generate", {"prompt": "Tiers", "max_new_tokens": 8}).status_code == 200
    metrics = httpx.get(f"{gateway.url}/metrics").text
    assert 'inference_model_info{device="remote",model="loyalty-assistant"' in metrics
    assert 'inference_requests_total{outcome="stop",tag="v1"}' in metrics
    assert 'inference_time_to_first_token_seconds_count{tag="v1"}' in metrics
    assert 'inference_inter_token_latency_seconds_count{tag="v1"}' in metrics
    assert 'inference_generated_tokens_total{tag="v1"}' in metrics
    assert "inference_queue_depth 0.0" in metrics
