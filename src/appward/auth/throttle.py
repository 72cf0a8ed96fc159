"""Slowing failed client authentication (token, introspection and revocation endpoints):
failures are counted per client_id and per source address, in two rate limiters
(appward.rate_limit: in this process, or in Redis shared by every worker and host).

The lockout policy, so that someone else's failures cannot lock a client out:

- A proof the credential cache already knows to be right (the client's secret, verified
  moments ago) is never throttled, and is never looked up here: the token endpoint's hot
  path costs no round trip to Redis.
- An address with ``per_address`` failures in the window is refused (429) before any
  proof is checked, whichever client_id it names. For IPv6 the address is its /64, and
  its /48 has a count of 16 times that (rate_limit.AddressRateLimiter): once the /48 is
  over it, every /64 there that has failed itself in the window is refused too, while a
  clean /64 (another tenant of a cloud's /48, say) still has its proof checked.
- A client_id with ``per_client`` failures in the window is refused only to addresses that
  have failed themselves in this window (any failure, for any client). An address with a
  clean record still has its proof checked, so the client, calling from its own address
  with its right secret, keeps working while others guess; a guesser pays for each guess
  past the limit with a fresh address, which then counts as failed too.

The one way to be locked out by someone else is to share their address (a NAT, or a /64),
and then only for the rest of the window. A refused attempt counts nothing, so a throttled flood
stores nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from appward.errors import TooManyAttempts
from appward.rate_limit import RateLimiter, address_key, seconds_left


@dataclass(frozen=True, slots=True)
class ClientAuthThrottle:
    by_client: RateLimiter
    by_address: RateLimiter

    async def check(self, client_id: str | None, address: str | None, now: datetime) -> None:
        """Raises TooManyAttempts when a proof from ``address`` for ``client_id`` must not be
        checked now (the policy above); ``client_id`` is None when the one presented is not
        of a shape this server issues."""
        address_id = address_key(address)
        failures_here = await self.by_address.count(address_id, now)
        if failures_here >= self.by_address.limit:
            raise _throttled("address", address_id, self.by_address, now)
        if client_id is None or failures_here == 0:
            return
        if await self.by_client.count(client_id, now) >= self.by_client.limit:
            raise _throttled("client_id", client_id, self.by_client, now)

    async def failed(self, client_id: str | None, address: str | None, now: datetime) -> None:
        """Counts one failed authentication against the address and the client_id."""
        await self.by_address.add(address_key(address), now)
        if client_id is not None:
            await self.by_client.add(client_id, now)

    async def close(self) -> None:
        await self.by_client.close()
        await self.by_address.close()


def _throttled(what: str, key: str, limiter: RateLimiter, now: datetime) -> TooManyAttempts:
    wait = seconds_left(now, limiter.window)
    return TooManyAttempts(
        f"too many failed client authentications; retry in {wait} s",
        detail=f"client authentication throttled on {what} {key!r}",
        retry_after=wait,
    )
