"""Zero-downtime secret rotation under load, across instances: the driver that
tests/e2e/test_rotation_under_load.py runs briefly and bench/rotation_under_load.py runs
longer (issue 12).

Load threads send client_credentials requests, round robin over the instances, with the
secret their phase says: all with the old one, half and half, all with the new one. Then
the old secret is revoked through the first instance, and every instance is asked with it
until it refuses it. Every request made with a then-valid secret must succeed.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

# Refusals in a row that show an instance refuses a secret: each request lands on either
# of its workers.
IN_A_ROW = 6
# Phase names, in order, and which secret each load thread uses in them: thread i uses
# the new secret when PHASES[phase](i) says so.
PHASES: dict[str, Callable[[int], bool]] = {
    "old": lambda _i: False,
    "half": lambda i: i % 2 == 1,
    "new": lambda _i: True,
}


@dataclass
class RotationReport:
    """Counts of answers by (phase, secret, instance, status), and how long each instance
    took to refuse the revoked secret."""

    answers: Counter[tuple[str, str, str, int]] = field(default_factory=Counter)
    refused_after: dict[str, float] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def failures(self) -> int:
        """Answers other than 200 to a then-valid secret, plus transport errors."""
        bad = sum(n for (_p, _s, _i, status), n in self.answers.items() if status != 200)
        return bad + sum(self.errors.values())

    def total(self, phase: str | None = None) -> int:
        return sum(n for (p, *_rest), n in self.answers.items() if phase in (None, p))

    def lines(self) -> list[str]:
        rows = [
            f"{phase:>4} {secret:>3} {instance:>3} {status}: {n}"
            for (phase, secret, instance, status), n in sorted(self.answers.items())
        ]
        rows += [f"error {kind}: {n}" for kind, n in sorted(self.errors.items())]
        rows += [
            f"old secret refused on {instance} {took * 1000:.0f} ms after the revocation"
            for instance, took in sorted(self.refused_after.items())
        ]
        return rows


@dataclass
class Rotation:
    """One client, the instances' base URLs (by name) and an admin token for the first."""

    instances: dict[str, str]
    admin_headers: dict[str, str]
    client_id: str
    old_secret: str
    threads: int = 4
    phase_seconds: float = 2.0
    timeout: float = 10.0
    report: RotationReport = field(default_factory=RotationReport)
    _merging: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> RotationReport:
        first = next(iter(self.instances.values()))
        with httpx.Client(base_url=first, timeout=self.timeout) as admin:
            secrets: dict[str, str] = {"old": self.old_secret}
            phase = ["old"]
            stop = threading.Event()
            workers = [
                threading.Thread(target=self._load, args=(i, phase, secrets, stop), daemon=True)
                for i in range(self.threads)
            ]
            for worker in workers:
                worker.start()
            try:
                time.sleep(self.phase_seconds)
                added = admin.post(
                    f"/admin/v1/clients/{self.client_id}/secrets",
                    json={},
                    headers=self.admin_headers,
                )
                assert added.status_code == 201, added.text
                secrets["new"] = added.json()["client_secret"]
                new_id = added.json()["id"]
                for name in ("half", "new"):
                    phase[0] = name
                    time.sleep(self.phase_seconds)
                old_id = self._other_secret_id(admin, new_id)
                # The load goes on, all of it with the new secret, through the revocation.
                revoked = admin.delete(
                    f"/admin/v1/clients/{self.client_id}/secrets/{old_id}?confirm=true",
                    headers=self.admin_headers,
                )
                assert revoked.status_code == 204, revoked.text
                revoked_at = time.monotonic()
                self._wait_for_refusals(revoked_at)
                time.sleep(min(self.phase_seconds, 1.0))
            finally:
                stop.set()
                for worker in workers:
                    worker.join(timeout=self.timeout + 5)
        return self.report

    def _load(
        self, index: int, phase: list[str], secrets: dict[str, str], stop: threading.Event
    ) -> None:
        names = list(self.instances)
        answers: Counter[tuple[str, str, str, int]] = Counter()
        errors: Counter[str] = Counter()
        clients = {
            name: httpx.Client(base_url=url, timeout=self.timeout)
            for name, url in self.instances.items()
        }
        try:
            sent = 0
            while not stop.is_set():
                current = phase[0]
                which = "new" if PHASES[current](index) and "new" in secrets else "old"
                instance = names[(index + sent) % len(names)]
                sent += 1
                try:
                    answer = clients[instance].post(
                        "/oauth2/token",
                        data={"grant_type": "client_credentials"},
                        auth=(self.client_id, secrets[which]),
                    )
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] += 1
                    continue
                answers[(current, which, instance, answer.status_code)] += 1
        finally:
            for client in clients.values():
                client.close()
            with self._merging:  # counted per thread: += on a shared Counter loses counts
                self.report.answers.update(answers)
                self.report.errors.update(errors)

    def _other_secret_id(self, admin: httpx.Client, new_id: str) -> str:
        listed = admin.get(
            f"/admin/v1/clients/{self.client_id}/secrets", headers=self.admin_headers
        )
        assert listed.status_code == 200, listed.text
        items: list[dict[str, Any]] = listed.json()["items"]
        return next(s["id"] for s in items if s["id"] != new_id and s.get("revoked_at") is None)

    def _wait_for_refusals(self, revoked_at: float, limit: float = 15.0) -> None:
        """Asks each instance with the old secret until it refuses it IN_A_ROW times in a
        row (each request may land on any of its workers); notes when that run began."""
        for name, url in self.instances.items():
            with httpx.Client(base_url=url, timeout=self.timeout) as http:
                streak_began, streak = 0.0, 0
                while streak < IN_A_ROW:
                    assert time.monotonic() - revoked_at < limit, f"{name} never refused it"
                    answer = http.post(
                        "/oauth2/token",
                        data={"grant_type": "client_credentials"},
                        auth=(self.client_id, self.old_secret),
                    )
                    if answer.status_code != 401:
                        assert answer.status_code == 200, answer.text
                        streak = 0
                        time.sleep(0.01)
                        continue
                    if streak == 0:  # answered by now: an upper bound on when it took effect
                        streak_began = time.monotonic()
                    streak += 1
                self.report.refused_after[name] = max(0.0, streak_began - revoked_at)
