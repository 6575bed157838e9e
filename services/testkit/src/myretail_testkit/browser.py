"""Browser-test helpers for the chat window (Python playwright + Debian's chromium).

Only tests import this module (``pip install myretail-ui[testing]``). ``launch_chromium``
starts the system Chromium headless with flags that keep it off the network;
:class:`ChatPage` drives the UI through the element ids ``ui.py`` sets, so tests read
like a shopper's session: ``page.ask("...")``, ``page.select("Loyalty Program")``.
``page.record_answers()`` makes the page itself note every text the last answer shows
while it streams (a MutationObserver), read back with ``page.recorded_answers()``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--headless=new",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

ANSWERS = "#chatbot [data-testid='bot']:not(:has(.thought-group))"
SOURCES = "#chatbot [data-testid='bot']:has(.thought-group)"
BOT_MESSAGES = "#chatbot [data-testid='bot']"
USER_MESSAGES = "#chatbot [data-testid='user']"

# True while Gradio streams an event into the chat (its status tracker is not hidden).
_ANSWERING_JS = """() => {
  const tracker = document.querySelector("#chatbot [data-testid='status-tracker']");
  return tracker !== null && !tracker.classList.contains("hide");
}"""


# Notes each distinct text of the last answer as the page renders it (streaming).
_RECORD_ANSWERS_JS = """(selector) => {
  window.__answerTexts = [];
  const note = () => {
    const answers = document.querySelectorAll(selector);
    const text = answers.length ? answers[answers.length - 1].innerText.trim() : "";
    const seen = window.__answerTexts;
    if (text && seen[seen.length - 1] !== text) seen.push(text);
  };
  new MutationObserver(note).observe(document.querySelector("#chatbot"),
    {subtree: true, childList: true, characterData: true});
}"""


def screenshots(root: Path | None = None) -> Path:
    """Where browser tests save screenshots: ``$ARTIFACTS_DIR/screenshots`` (gitignored)."""
    folder = (root or Path(os.environ.get("ARTIFACTS_DIR", "artifacts"))) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def chromium_available() -> bool:
    return Path(CHROMIUM_PATH).is_file() and os.access(CHROMIUM_PATH, os.X_OK)


@contextmanager
def launch_chromium() -> Iterator[Browser]:
    """Headless Debian Chromium (Playwright's own browser download is not used)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class ChatPage:
    """The chat window in one browser tab."""

    def __init__(self, page: Page, url: str, answer_timeout_s: float = 60.0) -> None:
        self.page = page
        self.url = url
        self.answer_timeout_ms = answer_timeout_s * 1000
        self.external_requests: list[str] = []
        page.on("request", self._record_request)

    def _record_request(self, request: Any) -> None:
        host = request.url.split("/")[2] if "://" in request.url else ""
        if request.url.startswith(("http://", "https://")) and not host.startswith(
            ("127.0.0.1", "localhost")
        ):
            self.external_requests.append(request.url)

    def open(self) -> ChatPage:
        self.page.goto(self.url)
        self.page.wait_for_selector("#prompt textarea", state="visible")
        self.page.wait_for_selector("#submit", state="visible")
        return self

    def select(self, assistant: str) -> None:
        self.page.locator("#assistant label", has_text=assistant).click()
        self.page.wait_for_function(
            """(name) => [...document.querySelectorAll('#assistant input[type=radio]')]
                .some(input => input.checked && input.value === name)""",
            arg=assistant,
        )

    def ask(self, question: str, submit_with_enter: bool = False) -> str:
        """Type ``question``, send it, wait for the complete answer and return its text."""
        self.send(question, submit_with_enter)
        self.wait_until_answered()
        return self.last_answer_text()

    def send(self, question: str, submit_with_enter: bool = False) -> None:
        """Type ``question`` and send it (the answer may still be coming)."""
        before = self.page.locator(USER_MESSAGES).count()
        self.page.fill("#prompt textarea", question)
        if submit_with_enter:
            self.page.press("#prompt textarea", "Enter")
        else:
            self.page.click("#submit")
        self.page.wait_for_function(
            "(n) => document.querySelectorAll(\"#chatbot [data-testid='user']\").length > n",
            arg=before,
            timeout=self.answer_timeout_ms,
        )

    def wait_for_answer_text(self, fragment: str) -> str:
        """Wait until the last answer shows ``fragment``; its text then."""
        self.page.wait_for_function(
            """([selector, fragment]) => {
                 const answers = document.querySelectorAll(selector);
                 return answers.length > 0
                   && answers[answers.length - 1].innerText.includes(fragment);
               }""",
            arg=[ANSWERS, fragment],
            timeout=self.answer_timeout_ms,
        )
        return self.last_answer_text()

    def record_answers(self) -> None:
        """From now on the page notes every distinct text its last answer shows."""
        self.page.evaluate(_RECORD_ANSWERS_JS, ANSWERS)

    def recorded_answers(self) -> list[str]:
        """The texts noted since :meth:`record_answers`, in the order the page showed them."""
        texts: list[str] = self.page.evaluate("() => window.__answerTexts || []")
        return texts

    def wait_until_answered(self) -> None:
        deadline = time.monotonic() + self.answer_timeout_ms / 1000
        self.page.wait_for_function(
            f"() => !({_ANSWERING_JS})()", timeout=self.answer_timeout_ms, polling=100
        )
        # The last update lands right after the tracker hides; wait until the text settles.
        previous = None
        while time.monotonic() < deadline:
            current = self.last_answer_text()
            if current == previous and current not in ("", "…"):
                return
            previous = current
            self.page.wait_for_timeout(250)

    def answers(self) -> list[str]:
        return [text.strip() for text in self.page.locator(ANSWERS).all_inner_texts()]

    def last_answer_text(self) -> str:
        answers = self.answers()
        return answers[-1] if answers else ""

    def last_answer_table(self) -> list[list[str]]:
        """Rows (header first) of the table in the last answer, as rendered HTML."""
        table = self.page.locator(ANSWERS).last.locator("table")
        rows: list[list[str]] = table.evaluate(
            """(t) => [...t.querySelectorAll('tr')].map(
                 row => [...row.querySelectorAll('th,td')].map(cell => cell.innerText.trim()))"""
        )
        return rows

    def last_sources(self) -> str:
        """Open the last answer's sources and return their text."""
        sources = self.page.locator(SOURCES).last
        sources.locator(".title").click()
        self.page.wait_for_function(
            "(el) => el.innerText.includes('$')", arg=sources.element_handle()
        )
        return sources.inner_text()

    def message_count(self) -> int:
        return self.page.locator(f"{BOT_MESSAGES}, {USER_MESSAGES}").count()

    def clear(self) -> None:
        self.page.click("#clear")
        self.page.wait_for_function(
            "() => document.querySelectorAll(\"#chatbot [data-testid='user'], "
            "#chatbot [data-testid='bot']\").length === 0"
        )

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=True)
        return path
