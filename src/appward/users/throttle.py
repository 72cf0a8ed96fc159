"""Slowing password guessing: too many failed sign-ins from one address, or for one
username, within a window, and further attempts are refused without a password check.

The counts live in two rate limiters (appward.rate_limit): bounded in memory, or in
Redis shared by every worker and host when it is configured. The per-address limit is
the tight one. The per-username limit is separate and higher, so that one attacking
address cannot lock a user out for everyone else; it still stops a guesser spreading
over many addresses."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime

from appward.errors import TooManyAttempts
from appward.rate_limit import RateLimiter, address_key


def username_key(username: str) -> str:
    """Returns what failures for ``username`` are counted under: a fixed-size digest of
    the case-folded name, so a long name costs no more memory (or Redis key) than a
    short one, and the counts never hold the name itself."""
    return hashlib.sha256(username.casefold().encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class LoginThrottle:
    by_address: RateLimiter
    by_username: RateLimiter

    async def check(self, username: str, address: str | None, now: datetime) -> None:
        """Raises TooManyAttempts while the address or the username is over its limit.

        The address is looked at first. Neither check stores anything, so a flood of
        new usernames costs no memory here.
        """
        if address:
            await self._check(self.by_address, address_key(address), "address", now)
        await self._check(self.by_username, username_key(username), "username", now)

    async def failed(self, username: str, address: str | None, now: datetime) -> None:
        """Counts one failed sign-in against the address and the username."""
        if address:
            await self.by_address.add(address_key(address), now)
        await self.by_username.add(username_key(username), now)

    async def succeeded(self, username: str, now: datetime) -> None:
        """Forgets the username's failures; the address's stay (a guesser holding one
        account of their own must not be able to wipe their count with it)."""
        await self.by_username.reset(username_key(username), now)

    async def close(self) -> None:
        await self.by_address.close()
        await self.by_username.close()

    @staticmethod
    async def _check(limiter: RateLimiter, key: str, what: str, now: datetime) -> None:
        try:
            await limiter.check(key, now)
        except TooManyAttempts as exc:
            minutes = max(1, math.ceil(exc.retry_after / 60))
            raise TooManyAttempts(
                f"too many failed sign-ins; try again in {minutes} minute(s)",
                detail=f"throttled on {what}",
                retry_after=exc.retry_after,
            ) from None
