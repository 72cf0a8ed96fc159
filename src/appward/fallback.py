"""What the server does instead when Redis cannot answer, and the one place each such
fallback is noted: logged and counted.

None of them fails open (docs/deployment.md, "Outages"):
- ``JTI_REPLAY``: a client assertion's jti is checked in the database (auth/replay.py);
- ``CACHE_INVALIDATION``: no change announcements are heard, so the credential cache
  keeps verifications for its short lifetime only (auth/invalidation.py);
- ``RATE_LIMIT``: a limit counts in this process alone (rate_limit.py).

``fallback_used`` is the hook a metrics recorder counts in (one counter, labelled by
the fallback); until then it keeps the counts itself (``fallback_counts``).
"""

from __future__ import annotations

import logging
import threading
import time
from enum import StrEnum

log = logging.getLogger("appward.fallback")

# A Redis outage makes every request fall back: one log line per fallback and interval
# says so without flooding the log; the counts hold every occurrence.
LOG_INTERVAL = 10.0  # seconds


class Fallback(StrEnum):
    JTI_REPLAY = "jti_replay"
    CACHE_INVALIDATION = "cache_invalidation"
    RATE_LIMIT = "rate_limit"


_WHAT = {
    Fallback.JTI_REPLAY: "jti replay checks use the database",
    Fallback.CACHE_INVALIDATION: "the credential cache keeps entries for its short lifetime",
    Fallback.RATE_LIMIT: "rate limits count in this process only",
}

_lock = threading.Lock()
_counts: dict[Fallback, int] = dict.fromkeys(Fallback, 0)
_last_logged: dict[Fallback, float] = {}
_unlogged: dict[Fallback, int] = dict.fromkeys(Fallback, 0)


def fallback_used(fallback: Fallback, cause: BaseException, *, name: str = "") -> None:
    """Notes that ``fallback`` was taken because of ``cause`` (a Redis error): counted
    every time, logged at WARNING at most once per LOG_INTERVAL per fallback, with how
    many went unlogged since. ``name`` says which use (a rate limit's name)."""
    now = time.monotonic()
    with _lock:
        _counts[fallback] += 1
        last = _last_logged.get(fallback)
        if last is not None and now - last < LOG_INTERVAL:
            _unlogged[fallback] += 1
            return
        _last_logged[fallback] = now
        skipped, _unlogged[fallback] = _unlogged[fallback], 0
    log.warning(
        "Redis unavailable (%s)%s: %s%s",
        type(cause).__name__,
        f" for {name}" if name else "",
        _WHAT[fallback],
        f" ({skipped} more since the last line)" if skipped else "",
    )


def fallback_counts() -> dict[Fallback, int]:
    """Returns how often each fallback was taken in this process."""
    with _lock:
        return dict(_counts)
