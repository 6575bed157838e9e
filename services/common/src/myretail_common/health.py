"""Liveness and readiness for FastAPI services.

``/healthz`` answers 200 while the process serves HTTP. ``/readyz`` runs the named
readiness checks a service registers (model loaded and warm, vector store reachable,
...) and answers 503 naming every check that fails, so a probe, a person and
``helm test`` all see *which* dependency is missing. A service may also *report* states
beside the checks (how many products the catalog holds, say): shown in the answer, never a
reason to be unready.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

# A check returns (or resolves to) anything when ready and raises when not.
Check = Callable[[], "Awaitable[object] | object"]
# A state returns (or resolves to) a short description of something the service only
# reports; a state that raises or times out is reported by its reason.
State = Callable[[], "Awaitable[str] | str"]


@dataclass
class Readiness:
    """Named readiness checks, each with a timeout, and named states that are only reported."""

    timeout_seconds: float = 3.0
    checks: dict[str, Check] = field(default_factory=dict)
    states: dict[str, State] = field(default_factory=dict)

    def add(self, name: str, check: Check) -> None:
        self.checks[name] = check

    def report(self, name: str, state: State) -> None:
        """Show ``state()`` in every answer; it runs after the checks (so it may show what a
        check just found) and never changes the verdict."""
        self.states[name] = state

    async def evaluate(self) -> tuple[bool, dict[str, str]]:
        """Run every check; returns (all ready, {name: "ok" or the reason})."""
        results: dict[str, str] = {}
        for name, check in self.checks.items():
            failure = await self._run(check)
            results[name] = "ok" if failure is None else failure
        ready = all(value == "ok" for value in results.values())
        if not ready:
            logger.info("not ready", extra={"checks": results})
        for name, state in self.states.items():
            shown: list[str] = []
            failure = await self._run(state, shown)
            results[name] = shown[0] if failure is None else failure
        return ready, results

    async def _run(self, probe: Callable[[], object], found: list[str] | None = None) -> str | None:
        """Run a check or a state within the timeout: None when it succeeded (its value
        appended to ``found``), else the reason it failed."""
        try:
            outcome = probe()
            if inspect.isawaitable(outcome):
                outcome = await asyncio.wait_for(outcome, self.timeout_seconds)
        except TimeoutError:
            return f"timed out after {self.timeout_seconds:g}s"
        except Exception as exc:  # a failing check is an answer, not a crash
            return str(exc) or type(exc).__name__
        if found is not None:
            found.append(str(outcome))
        return None
