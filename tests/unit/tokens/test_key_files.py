"""The key files of the embedded default (data_dir): created whole, or not at all."""

from __future__ import annotations

import threading
from pathlib import Path

from appward.tokens.keys import generated_key_file


def test_a_key_file_being_created_is_never_read_empty(tmp_path: Path) -> None:
    """A second process starting while the first is still writing the key (or after the
    first was killed mid-way) must not take an empty key: both end with the same one."""
    path = tmp_path / "var" / "session.key"
    writing = threading.Event()
    may_finish = threading.Event()
    results: dict[str, bytes] = {}

    def slow_key() -> bytes:
        writing.set()
        assert may_finish.wait(timeout=10)
        return b"first-key"

    def first() -> None:
        results["first"] = generated_key_file(path, slow_key)

    creator = threading.Thread(target=first)
    creator.start()
    assert writing.wait(timeout=10)
    results["second"] = generated_key_file(path, lambda: b"second-key")
    may_finish.set()
    creator.join(timeout=10)

    assert results["second"] == results["first"] == b"second-key"
    assert path.read_bytes() == b"second-key"
    assert [p.name for p in path.parent.iterdir()] == ["session.key"]  # no drafts left
    assert path.stat().st_mode & 0o777 == 0o600


def test_an_existing_key_file_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_bytes(b"kept\n")
    assert generated_key_file(path, lambda: b"other") == b"kept"
