"""Chat history per session, in SQLite (one file, default) or Redis (shared, with a TTL).

Both stores keep LangChain messages (serialised with ``messages_to_dict``) behind one
small interface: :meth:`HistoryStore.messages` returns the last *n* turns of a session,
:meth:`HistoryStore.append` adds a turn. History survives restarts (SQLite file, Redis)
and is shared by replicas (Redis; SQLite only by processes on one host). Sessions
expire ``HISTORY_TTL_SECONDS`` after their last message.

(LangChain's ``BaseChatMessageHistory`` is deprecated in langchain-core 1.6+, so the
stores implement this interface instead of subclassing it.)
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from langchain_core.messages import BaseMessage, messages_from_dict, messages_to_dict

logger = logging.getLogger(__name__)

MAX_STORED_MESSAGES = 200  # per session; older messages are dropped


class HistoryUnavailableError(Exception):
    """The history store could not be reached."""


class HistoryStore(ABC):
    """Messages per session id."""

    #: For messages: which store, never credentials.
    description: str = "history store"

    @abstractmethod
    def messages(self, session_id: str, max_turns: int | None = None) -> list[BaseMessage]:
        """The session's messages, oldest first; only the last ``max_turns`` turns if given
        (a turn is a user message and the answer to it)."""

    @abstractmethod
    def append(self, session_id: str, messages: Sequence[BaseMessage]) -> None:
        """Add messages to the session (and renew its expiry)."""

    @abstractmethod
    def clear(self, session_id: str) -> None: ...

    @abstractmethod
    def ping(self) -> None:
        """Raise :class:`HistoryUnavailableError` when the store cannot be used."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


def _encode(messages: Sequence[BaseMessage]) -> list[str]:
    return [json.dumps(item, ensure_ascii=False) for item in messages_to_dict(list(messages))]


def _decode(rows: Sequence[str | bytes]) -> list[BaseMessage]:
    return messages_from_dict([json.loads(row) for row in rows])


def _last_turns(messages: list[BaseMessage], max_turns: int | None) -> list[BaseMessage]:
    if max_turns is None:
        return messages
    if max_turns <= 0:
        return []
    humans = [i for i, message in enumerate(messages) if message.type == "human"]
    if len(humans) <= max_turns:
        return messages
    return messages[humans[-max_turns] :]


class SQLiteHistory(HistoryStore):
    """History in one SQLite file (WAL mode: several processes on one host may share it)."""

    def __init__(self, path: str | Path, ttl_seconds: int) -> None:
        self.path = Path(path)
        self.ttl_seconds = ttl_seconds
        self.description = f"chat history (SQLite at {self.path})"
        self._lock = threading.Lock()
        self._last_purge = 0.0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
            with self._lock, self._db:
                self._db.execute("PRAGMA journal_mode=WAL")
                # In WAL mode NORMAL cannot corrupt the file; a power cut may lose the last
                # turns, not more. FULL waits for the disk on every turn (~1.5 ms).
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS messages ("
                    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
                    " session_id TEXT NOT NULL,"
                    " created_at REAL NOT NULL,"
                    " message TEXT NOT NULL)"
                )
                self._db.execute(
                    "CREATE INDEX IF NOT EXISTS messages_session ON messages (session_id, id)"
                )
        except (sqlite3.Error, OSError) as exc:
            raise HistoryUnavailableError(f"{self.description}: {exc}") from exc

    def _run(self, action: str, function: Any) -> Any:
        try:
            with self._lock:
                return function()
        except sqlite3.Error as exc:
            raise HistoryUnavailableError(f"{self.description} failed to {action}: {exc}") from exc

    def messages(self, session_id: str, max_turns: int | None = None) -> list[BaseMessage]:
        limit = MAX_STORED_MESSAGES if max_turns is None else max(2 * max_turns + 2, 2)
        cutoff = time.time() - self.ttl_seconds

        def read() -> list[str]:
            rows = self._db.execute(
                "SELECT message FROM messages WHERE session_id = ? AND created_at >= ?"
                " ORDER BY id DESC LIMIT ?",
                (session_id, cutoff, limit),
            ).fetchall()
            return [row[0] for row in reversed(rows)]

        return _last_turns(_decode(self._run("read", read)), max_turns)

    def append(self, session_id: str, messages: Sequence[BaseMessage]) -> None:
        now = time.time()
        encoded = _encode(messages)

        def write() -> None:
            with self._db:
                self._db.executemany(
                    "INSERT INTO messages (session_id, created_at, message) VALUES (?, ?, ?)",
                    [(session_id, now, item) for item in encoded],
                )
                # Renew the session: its older messages expire with the newest.
                self._db.execute(
                    "UPDATE messages SET created_at = ? WHERE session_id = ?", (now, session_id)
                )
                if now - self._last_purge > 600:
                    self._db.execute(
                        "DELETE FROM messages WHERE created_at < ?", (now - self.ttl_seconds,)
                    )
                    self._last_purge = now

        self._run("write", write)

    def clear(self, session_id: str) -> None:
        def delete() -> None:
            with self._db:
                self._db.execute("DELETE FROM messages WHERE session_id = ?", (session_id,))

        self._run("clear", delete)

    def ping(self) -> None:
        self._run("answer", lambda: self._db.execute("SELECT 1").fetchone())

    def close(self) -> None:
        with self._lock:
            self._db.close()


class RedisHistory(HistoryStore):
    """History in Redis: one list per session, trimmed, expiring after the TTL."""

    def __init__(self, url: str, ttl_seconds: int, prefix: str = "myretail:history:") -> None:
        import redis

        self.ttl_seconds = ttl_seconds
        self.prefix = prefix
        parts = urlsplit(url)
        self.description = f"chat history (Redis at {parts.hostname}:{parts.port or 6379})"
        self._redis = redis.Redis.from_url(
            url, socket_timeout=3, socket_connect_timeout=3, health_check_interval=30
        )
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)

    def _key(self, session_id: str) -> str:
        return f"{self.prefix}{session_id}"

    def _run(self, action: str, function: Any) -> Any:
        try:
            return function()
        except self._errors as exc:
            raise HistoryUnavailableError(
                f"{self.description} failed to {action}: {type(exc).__name__}"
            ) from exc

    def messages(self, session_id: str, max_turns: int | None = None) -> list[BaseMessage]:
        count = MAX_STORED_MESSAGES if max_turns is None else max(2 * max_turns + 2, 2)
        rows = self._run("read", lambda: self._redis.lrange(self._key(session_id), -count, -1))
        return _last_turns(_decode(rows), max_turns)

    def append(self, session_id: str, messages: Sequence[BaseMessage]) -> None:
        key = self._key(session_id)
        encoded = _encode(messages)

        def write() -> None:
            pipe = self._redis.pipeline(transaction=True)
            pipe.rpush(key, *encoded)
            pipe.ltrim(key, -MAX_STORED_MESSAGES, -1)
            pipe.expire(key, self.ttl_seconds)
            pipe.execute()

        self._run("write", write)

    def clear(self, session_id: str) -> None:
        self._run("clear", lambda: self._redis.delete(self._key(session_id)))

    def ping(self) -> None:
        self._run("answer", self._redis.ping)

    def close(self) -> None:
        self._redis.close()


def create_history(url: str, ttl_seconds: int) -> HistoryStore:
    """The store ``HISTORY_URL`` names: ``sqlite:///path`` or ``redis://host:port/db``."""
    if url.startswith("sqlite:///"):
        return SQLiteHistory(url.removeprefix("sqlite:///"), ttl_seconds)
    if url.startswith(("redis://", "rediss://")):
        return RedisHistory(url, ttl_seconds)
    raise ValueError("HISTORY_URL must start with sqlite:///, redis:// or rediss://")
