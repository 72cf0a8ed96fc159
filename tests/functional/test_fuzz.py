"""The bounded fuzz run of ``make test``: schemathesis over every operation of the app's
own OpenAPI document finds no 5xx and no answer the document does not describe."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from cryptography.fernet import Fernet

from appward.clock import FrozenClock
from appward.config import Settings
from tests.conftest import FAST_ARGON2
from tests.fuzz import run_fuzz

EXAMPLES = int(os.environ.get("APPWARD_FUZZ_EXAMPLES", "8"))


def test_no_operation_answers_outside_its_documentation(
    tmp_path: Path, sqlite_template: Path, clock: FrozenClock
) -> None:
    database = tmp_path / "appward.db"
    shutil.copy(sqlite_template, database)
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{database}",
        data_dir=tmp_path / "var",
        key_encryption_key=Fernet.generate_key().decode(),
        dcr_modes=("open", "initial_access_token"),
        dcr_rate_limit=1_000_000,
        **FAST_ARGON2,  # type: ignore[arg-type]
    )
    outcome = run_fuzz(settings, clock, EXAMPLES)
    print(outcome.summary())
    assert outcome.operations >= 50
    assert not outcome.failures, "\n\n".join(outcome.failures)
    # Past authentication: no operation saw only 401s, and the forms got real answers.
    stuck = [label for label, seen in outcome.statuses.items() if set(seen) == {401}]
    assert not stuck, stuck
    assert outcome.statuses["POST /oauth2/token"][200] > 0
    assert outcome.statuses["POST /oauth2/introspect"][200] > 0
