"""Slowing password guessing: too many failed sign-ins from one address, or for one
username, within a window, and further attempts are refused without a password check.
An attempt counts from the moment it arrives and is taken back only when it succeeds.

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

    async def attempt(self, username: str, address: str | None, now: datetime) -> None:
        """Counts a sign-in attempt before its password is checked. Raises TooManyAttempts
        when the address or the username is over its limit; no password check may follow.

        Counting before the slow password check is what holds the limit against guesses
        sent all at once: each is counted the moment it arrives. The address is looked at
        first, and a refused attempt counts nothing more, so a flood of new usernames from
        a throttled address stores nothing.
        """
        address_id = address_key(address) if address else None
        user_id = username_key(username)
        if address_id is not None:
            await self._check(self.by_address, address_id, "address", now)
        await self._check(self.by_username, user_id, "username", now)
        if address_id is not None:
            await self._count(self.by_address, address_id, "address", now)
        await self._count(self.by_username, user_id, "username", now)

    async def succeeded(self, username: str, address: str | None, now: datetime) -> None:
        """Forgets the username's failures and takes this one attempt back off the
        address; the address's failures stay (a guesser holding one account of their own
        must not be able to wipe their count with it)."""
        await self.by_username.reset(username_key(username), now)
        if address:
            await self.by_address.subtract(address_key(address), now)

    async def close(self) -> None:
        await self.by_address.close()
        await self.by_username.close()

    @staticmethod
    async def _check(limiter: RateLimiter, key: str, what: str, now: datetime) -> None:
        try:
            await limiter.check(key, now)
        except TooManyAttempts as exc:
            raise _throttled(what, exc.retry_after) from None

    @staticmethod
    async def _count(limiter: RateLimiter, key: str, what: str, now: datetime) -> None:
        try:
            await limiter.hit(key, now)
        except TooManyAttempts as exc:
            raise _throttled(what, exc.retry_after) from None


def _throttled(what: str, retry_after: int) -> TooManyAttempts:
    minutes = max(1, math.ceil(retry_after / 60))
    return TooManyAttempts(
        f"too many failed sign-ins; try again in {minutes} minute(s)",
        detail=f"throttled on {what}",
        retry_after=retry_after,
    )


# Self-service password resets: a mail each, so tight. Per address, and per account asked
# for (so nobody's mailbox is flooded from many addresses).
RESET_REQUESTS_PER_ADDRESS = 5
RESET_REQUESTS_PER_ACCOUNT = 3
RESET_REQUEST_WINDOW = 900  # seconds


@dataclass(frozen=True, slots=True)
class ResetRequestThrottle:
    by_address: RateLimiter
    by_account: RateLimiter

    async def attempt(self, identifier: str, address: str | None, now: datetime) -> None:
        """Counts a reset request (whether or not the account exists: the answer must not
        tell). Raises TooManyAttempts once the address or the name is over its limit."""
        try:
            if address:
                await self.by_address.hit(address_key(address), now)
            await self.by_account.hit(username_key(identifier.strip()), now)
        except TooManyAttempts as exc:
            minutes = max(1, math.ceil(exc.retry_after / 60))
            raise TooManyAttempts(
                f"too many password reset requests; try again in {minutes} minute(s)",
                detail="reset requests throttled",
                retry_after=exc.retry_after,
            ) from None

    async def close(self) -> None:
        await self.by_address.close()
        await self.by_account.close()
