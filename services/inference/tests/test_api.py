"""The HTTP API against a live server with the real fine-tuned adapter.

Covers the book's ``/generate``, the OpenAI endpoints through the official ``openai``
client (with and without streaming), LangChain's ``ChatOpenAI``, the health routes, and
that 16 concurrent greedy requests get exactly the answers they get alone.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest
import torch
from langchain_openai import ChatOpenAI

from myretail_common.prompt import build_prompt, extract_answer
from myretail_inference.engine import BatchingEngine
from myretail_inference.loader import LoadedModel
from myretail_testkit.servers import LiveServer

pytestmark = pytest.mark.slow

MAX_TOKENS = 24


def _generate(server: LiveServer, prompt: str, **extra: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{server.url}/generate",
        json={"prompt": prompt, "max_new_tokens": MAX_TOKENS, **extra},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_health_readiness_and_metrics(server: LiveServer) -> None:
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"model": "ok"}
    _generate(server, "What are the MyElite tiers?")
    metrics = httpx.get(f"{server.url}/metrics").text
    for name in (
        "inference_requests_total",
        "inference_request_duration_seconds",
        "inference_time_to_first_token_seconds",
        "inference_generated_tokens_total",
        "inference_queue_depth",
        "inference_batch_size",
        "http_requests_total",
    ):
        assert name in metrics
    assert 'inference_model_info{device="cpu"' in metrics


def test_generate_answers_like_the_fine_tuned_model(
    server: LiveServer, loaded: LoadedModel, published_adapter: Any, questions: list[str]
) -> None:
    """/generate == greedy ``generate()`` of the unmerged PEFT model with training's prompt."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(published_adapter.base_model_path)
    reference = PeftModel.from_pretrained(base, loaded.tag_dir).eval()
    tokenizer = loaded.tokenizer
    for question in questions[:3]:
        inputs = tokenizer(build_prompt(question), return_tensors="pt")
        with torch.inference_mode():
            output = reference.generate(
                **inputs,
                max_new_tokens=MAX_TOKENS,
                do_sample=False,
                repetition_penalty=1.15,
                pad_token_id=tokenizer.pad_token_id,
            )
        expected = extract_answer(
            tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        )
        body = _generate(server, question)
        assert body["response"] == expected
        assert question not in body["response"]
        assert "###" not in body["response"]
        usage = body["usage"]
        assert usage["prompt_tokens"] == inputs["input_ids"].shape[1]
        assert 0 < usage["completion_tokens"] <= MAX_TOKENS
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_models_list(client: openai.OpenAI, settings: Any) -> None:
    models = client.models.list()
    assert [model.id for model in models.data] == [settings.model_name]


def test_chat_completion_and_stream_agree(
    server: LiveServer, client: openai.OpenAI, settings: Any, questions: list[str]
) -> None:
    question = questions[0]
    messages: Any = [{"role": "user", "content": question}]
    completion = client.chat.completions.create(
        model=settings.model_name,
        messages=messages,
        max_tokens=MAX_TOKENS,
        temperature=0,
        extra_body={"repetition_penalty": 1.15},
    )
    answer = completion.choices[0].message.content
    assert completion.choices[0].finish_reason in ("stop", "length")
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    # A one-question chat is the same prompt as /generate: the same answer.
    assert answer == _generate(server, question)["response"]

    chunks = list(
        client.chat.completions.create(
            model=settings.model_name,
            messages=messages,
            max_tokens=MAX_TOKENS,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
            extra_body={"repetition_penalty": 1.15},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == answer
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] in ("stop", "length")
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == completion.usage.total_tokens


def test_completions_and_stream_agree(client: openai.OpenAI, settings: Any) -> None:
    prompt = build_prompt("How do I reach Gold status?")
    completion = client.completions.create(
        model=f"{settings.model_name}:{settings.model_tag}",
        prompt=prompt,
        max_tokens=12,
        temperature=0,
    )
    text = completion.choices[0].text
    assert text and completion.usage is not None
    assert completion.usage.completion_tokens <= 12
    streamed = client.completions.create(
        model=settings.model_name, prompt=prompt, max_tokens=12, temperature=0, stream=True
    )
    assert "".join(chunk.choices[0].text for chunk in streamed if chunk.choices) == text


def test_stop_sequences_and_max_tokens(client: openai.OpenAI, settings: Any) -> None:
    prompt = build_prompt("What are the MyElite tiers?")
    full = client.completions.create(
        model=settings.model_name,
        prompt=prompt,
        max_tokens=16,
        temperature=0,
        extra_body={"ignore_eos": True},
    )
    full_text = full.choices[0].text
    assert full.choices[0].finish_reason == "length"
    assert full.usage is not None and full.usage.completion_tokens == 16
    stop = full_text.strip().split()[1]  # a word from inside the answer
    cut = client.completions.create(
        model=settings.model_name,
        prompt=prompt,
        max_tokens=16,
        temperature=0,
        stop=[stop],
        extra_body={"ignore_eos": True},
    )
    assert cut.choices[0].finish_reason == "stop"
    assert cut.choices[0].text == full_text[: full_text.index(stop)]
    short = client.completions.create(
        model=settings.model_name, prompt=prompt, max_tokens=3, temperature=0
    )
    assert short.usage is not None and short.usage.completion_tokens <= 3


def test_seeded_sampling_is_reproducible(client: openai.OpenAI, settings: Any) -> None:
    def sample(seed: int) -> str:
        completion = client.completions.create(
            model=settings.model_name,
            prompt="MyElite members",
            max_tokens=12,
            temperature=1.0,
            top_p=0.9,
            seed=seed,
            extra_body={"ignore_eos": True},
        )
        return completion.choices[0].text

    with ThreadPoolExecutor(4) as pool:  # in a shared batch as well as alone
        batched = list(pool.map(sample, [7, 7, 8, 8]))
    assert batched[0] == batched[1] == sample(7)
    assert batched[2] == batched[3]


def test_langchain_chat_openai(server: LiveServer, settings: Any, questions: list[str]) -> None:
    llm = ChatOpenAI(
        base_url=f"{server.url}/v1",
        api_key="unused",  # type: ignore[arg-type]
        model=settings.model_name,
        temperature=0,
        max_tokens=MAX_TOKENS,  # type: ignore[call-arg]
        max_retries=0,
        extra_body={"repetition_penalty": 1.15},
    )
    answer = llm.invoke(questions[0])
    assert answer.content == _generate(server, questions[0])["response"]
    streamed = "".join(str(chunk.content) for chunk in llm.stream(questions[0]))
    assert streamed == answer.content


def test_chat_history_uses_the_training_prompt_format(
    client: openai.OpenAI, settings: Any, engine: BatchingEngine
) -> None:
    messages: Any = [
        {"role": "system", "content": "You answer questions about MyElite."},
        {"role": "user", "content": "What are the MyElite tiers?"},
        {"role": "assistant", "content": "Member, Silver, Gold and Platinum."},
        {"role": "user", "content": [{"type": "text", "text": "How do I reach Gold status?"}]},
    ]
    completion = client.chat.completions.create(
        model=settings.model_name, messages=messages, max_tokens=8, temperature=0
    )
    assert completion.usage is not None
    expected_prompt = (
        "You answer questions about MyElite.\n\n"
        + build_prompt("What are the MyElite tiers?")
        + "Member, Silver, Gold and Platinum.\n\n"
        + build_prompt("How do I reach Gold status?")
    )
    assert completion.usage.prompt_tokens == len(engine.encode(expected_prompt))


def test_concurrent_greedy_requests_match_their_answers_alone(
    server: LiveServer, engine: BatchingEngine, questions: list[str]
) -> None:
    """16 concurrent requests share forward passes yet get exactly their solo answers."""
    # Different lengths, so prompts are left-padded differently inside the batch.
    prompts = [f"{questions[i % 4]}{' Please tell me.' * (i // 4)}" for i in range(16)]
    alone = [_generate(server, prompt)["response"] for prompt in prompts]
    passes_before = engine.steps
    with ThreadPoolExecutor(16) as pool:
        together = list(pool.map(lambda p: _generate(server, p)["response"], prompts))
    assert together == alone
    # Shared passes: far fewer decode steps than 16 requests run one by one would need.
    assert engine.steps - passes_before < 16 * MAX_TOKENS / 2


def test_response_json_is_utf8(server: LiveServer) -> None:
    body = _generate(server, "Können Punkte verfallen? 🙂")
    json.dumps(body, ensure_ascii=False)
    assert isinstance(body["response"], str)
