from datetime import UTC, datetime, timedelta

import pytest

from appward.errors import TooManyAttempts
from appward.users.throttle import LoginThrottle

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def test_one_address_guessing_many_usernames_is_throttled():
    throttle = LoginThrottle(max_failures=3)
    for i in range(3):
        throttle.failed(f"user{i}", "127.0.0.5", NOW)
    with pytest.raises(TooManyAttempts):
        throttle.check("someone-else", "127.0.0.5", NOW)
    throttle.check("someone-else", "127.0.0.6", NOW)  # another address is not affected


def test_failures_age_out_of_the_window_and_success_clears_the_username():
    throttle = LoginThrottle(max_failures=2, window=timedelta(minutes=5))
    throttle.failed("amy", None, NOW)
    throttle.failed("amy", None, NOW)
    with pytest.raises(TooManyAttempts, match="try again in 5 minute"):
        throttle.check("amy", None, NOW)
    throttle.check("amy", None, NOW + timedelta(minutes=5))
    throttle.failed("amy", None, NOW)
    throttle.succeeded("AMY")
    throttle.check("amy", None, NOW)
