"""Slowing password guessing: too many failed sign-ins for one username, or from one
address, within a window, and further attempts are refused without a password check."""

from __future__ import annotations

import math
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from appward.errors import TooManyAttempts


@dataclass
class LoginThrottle:
    """Per process, in memory: each worker counts on its own (a limit per worker)."""

    max_failures: int = 10
    window: timedelta = timedelta(minutes=5)
    _failures: defaultdict[str, deque[datetime]] = field(default_factory=lambda: defaultdict(deque))

    def check(self, username: str, address: str | None, now: datetime) -> None:
        """Raises TooManyAttempts while the username or the address is over the limit."""
        for key in self._keys(username, address):
            attempts = self._recent(key, now)
            if len(attempts) >= self.max_failures:
                wait = attempts[0] + self.window - now
                minutes = max(1, math.ceil(wait.total_seconds() / 60))
                raise TooManyAttempts(
                    f"too many failed sign-ins; try again in {minutes} minute(s)",
                    detail=f"throttled on {key.split(':', 1)[0]}",
                    retry_after=max(1, math.ceil(wait.total_seconds())),
                )

    def failed(self, username: str, address: str | None, now: datetime) -> None:
        for key in self._keys(username, address):
            self._recent(key, now).append(now)

    def succeeded(self, username: str) -> None:
        self._failures.pop(f"user:{username.lower()}", None)

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        attempts = self._failures[key]
        while attempts and now - attempts[0] >= self.window:
            attempts.popleft()
        return attempts

    @staticmethod
    def _keys(username: str, address: str | None) -> list[str]:
        keys = [f"user:{username.lower()}"]
        if address:
            keys.append(f"addr:{address}")
        return keys
