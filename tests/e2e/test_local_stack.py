"""The whole product in a real browser: ``scripts/demo.py`` (what ``make demo`` runs) starts
the tiny fine-tuned model, the RAG API over embedded Qdrant and the UI; Chromium talks to
them like a shopper. Screenshots go to artifacts/screenshots/; with
``UPDATE_DOCS_SCREENSHOT=1`` the conversation's screenshot also replaces the README's
docs/images/chatbot-ui.png.

Then Ctrl-C stops every process the demo started, and a second run in the same folder
reuses the model and the catalog.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from myretail_testkit.browser import ChatPage, screenshots
from myretail_testkit.processes import port_open, process_gone
from myretail_testkit.rag import BOOK_QUESTION

from .conftest import PORT_VARIABLES

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    # The first test also starts the stack (loading the catalog) and, when no earlier
    # suite needed it, waits for the session's adapter to be trained: a few minutes on
    # an idle 2-core machine, several times that when the cores are shared.
    pytest.mark.timeout(1800),
]

ROOT = Path(__file__).resolve().parents[2]
SORT_QUESTION = "Can you sort the results by price in descending order?"
DOCS_SCREENSHOT = ROOT / "docs" / "images" / "chatbot-ui.png"


def loyalty_example() -> dict[str, str]:
    """The first training question and the fact its answer must state."""
    first = (ROOT / "data" / "loyalty_qa_train.jsonl").read_text(encoding="utf-8").splitlines()[0]
    example: dict[str, str] = json.loads(first)
    return example


def price(cell: str) -> float:
    return float(re.sub(r"[^0-9.]", "", cell))


def columns(table: list[list[str]]) -> tuple[int, int]:
    """Indexes of the product-name and price columns from the header row."""
    header = [cell.lower() for cell in table[0]]
    name = next(i for i, cell in enumerate(header) if "name" in cell or "product" in cell)
    cost = next(i for i, cell in enumerate(header) if "price" in cell)
    return name, cost


def test_a_shopper_uses_both_assistants_in_the_browser(demo_stack: Any, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 2300})
    chat = ChatPage(page, demo_stack.url("UI_PORT"), answer_timeout_s=120).open()
    shots = screenshots()

    # Shopping: the seed's question gets a table of walking shoes.
    chat.ask(BOOK_QUESTION)
    table = chat.last_answer_table()
    name_col, price_col = columns(table)
    products = [row[name_col] for row in table[1:]]
    assert len(products) >= 3, table
    assert all("walking" in product.lower() for product in products), products
    sources = chat.last_sources()
    for product in products:
        assert product in sources
    assert "$" in sources and "★" in sources

    # The follow-up is understood from the session's history: same products, by price.
    chat.ask(SORT_QUESTION)
    sorted_table = chat.last_answer_table()
    name_col, price_col = columns(sorted_table)
    assert sorted(row[name_col] for row in sorted_table[1:]) == sorted(products)
    prices = [price(row[price_col]) for row in sorted_table[1:]]
    assert prices == sorted(prices, reverse=True), sorted_table
    chat.screenshot(shots / "e2e-shopping.png")

    # Loyalty Program: a question from the training set gets its key fact.
    example = loyalty_example()
    chat.select("Loyalty Program")
    answer = chat.ask(example["prompt"])
    assert example["key_fact"].lower() in answer.lower(), answer
    conversation = chat.screenshot(shots / "e2e-conversation.png")
    if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(conversation, DOCS_SCREENSHOT)

    # Clear empties the chat.
    chat.clear()
    assert chat.message_count() == 0
    assert chat.answers() == []
    chat.screenshot(shots / "e2e-cleared.png")
    assert chat.external_requests == [], "the page loaded nothing from outside this machine"
    page.close()


def test_the_services_answer_their_health_routes(demo_stack: Any) -> None:
    for variable in ("INFERENCE_PORT", "RAG_API_PORT", "UI_PORT"):
        base = demo_stack.url(variable)
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
        assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200


def test_ctrl_c_stops_every_process_it_started(demo_stack: Any) -> None:
    pids = [int(pid) for pid in re.findall(r"started \(pid (\d+)\)", demo_stack.output)]
    assert len(pids) == 3, demo_stack.output
    assert demo_stack.interrupt() == 0, demo_stack.output
    for variable, port in demo_stack.ports.items():
        assert not port_open(port)(), f"{variable} {port} still answers after Ctrl-C"
    for pid in pids:
        assert process_gone(pid), f"pid {pid} survived"
    assert "Stopped." in demo_stack.output


def test_a_second_run_reuses_the_model_and_the_catalog(
    demo_stack: Any, e2e_dir: Path, start_demo: Any
) -> None:
    """After the first run (above), nothing is rebuilt: the stack just starts."""
    from myretail_common.ports import free_port

    if demo_stack.process.alive():  # embedded Qdrant: one process per folder
        demo_stack.interrupt()
    ports = {name: free_port() for name in PORT_VARIABLES}
    with start_demo(e2e_dir, ports, "--check") as run:
        assert run.process.wait(timeout=300) == 0, run.output
    output = run.output
    assert re.search(r"\[1/6\].*\n\s+✓ reused", output), output
    assert re.search(r"\[2/6\].*\n\s+✓ reused", output), output
    assert re.search(r"\[3/6\].*\n\s+✓ reused", output), output
    assert "Shopping:" in output and "Loyalty:" in output
