"""The shape every test server shares: ``start()`` returns it, ``stop()`` ends it, and
``with server:`` does both."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class StartStop:
    """Base of the live servers and supervised processes: a context manager over start/stop."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> object:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
