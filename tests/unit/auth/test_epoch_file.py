"""The epoch file: what one process tells the others on its host of a change."""

from __future__ import annotations

import subprocess
import sys

from appward.auth.epoch_file import MAX_NAMED, SIZE, SLOTS, EpochFile


def test_a_reader_learns_which_clients_changed(tmp_path):
    reader, writer = EpochFile(tmp_path / "epoch"), EpochFile(tmp_path / "epoch")
    seen = reader.read()
    writer.bump(["c1", "c2"])
    writer.bump(["c3"])
    changes = reader.changes_since(seen)
    assert changes.client_ids == {"c1", "c2", "c3"}
    assert reader.changes_since(changes.sequence).client_ids == frozenset()
    assert not reader.changes_since(changes.sequence).any


def test_everything_when_no_client_or_too_many_or_an_unstorable_one_is_named(tmp_path):
    epoch = EpochFile(tmp_path / "epoch")
    for names in ([], [f"c{i}" for i in range(MAX_NAMED + 1)], ["x" * 200]):
        seen = epoch.read()
        epoch.bump(names)
        changes = epoch.changes_since(seen)
        assert changes.client_ids is None
        assert changes.any


def test_a_reader_that_fell_behind_the_ring_drops_everything(tmp_path):
    epoch = EpochFile(tmp_path / "epoch")
    seen = epoch.read()
    for i in range(SLOTS - MAX_NAMED + 1):
        epoch.bump([f"c{i}"])
    assert epoch.changes_since(seen).client_ids is None
    # One that kept up reads exactly the last change.
    last = epoch.read()
    epoch.bump(["late"])
    assert epoch.changes_since(last).client_ids == {"late"}


def test_another_process_change_is_seen_with_its_clients(tmp_path):
    path = tmp_path / "epoch"
    reader = EpochFile(path)
    seen = reader.read()
    for i in range(3):
        # A separate process, as the CLI is: only the shared mapping can carry the change.
        subprocess.run(
            [sys.executable, "-c", BUMP_IN_ANOTHER_PROCESS, str(path), f"c{i}"],
            check=True,
            timeout=30,
        )
        changes = reader.changes_since(seen)
        assert changes.client_ids == {f"c{i}"}
        seen = changes.sequence


BUMP_IN_ANOTHER_PROCESS = (
    "import sys, pathlib\n"
    "from appward.auth.epoch_file import EpochFile\n"
    "EpochFile(pathlib.Path(sys.argv[1])).bump([sys.argv[2]])\n"
)


def test_an_older_versions_file_is_grown_and_reads_as_everything_once(tmp_path):
    path = tmp_path / "epoch"
    path.write_bytes(b"01234567")  # an older Appward's eight random bytes
    epoch = EpochFile(path)
    seen = epoch.read()
    assert seen == int.from_bytes(b"01234567", "little")
    assert path.stat().st_size == SIZE
    epoch.bump(["c1"])
    assert epoch.changes_since(seen).client_ids == {"c1"}
    assert epoch.changes_since(seen - 1).client_ids is None  # an empty slot: everything


def test_the_sequence_wraps_around(tmp_path):
    path = tmp_path / "epoch"
    path.write_bytes((2**64 - 1).to_bytes(8, "little"))
    epoch = EpochFile(path)
    seen = epoch.read()
    epoch.bump(["c1"])
    assert epoch.read() == 0
    assert epoch.changes_since(seen).client_ids == {"c1"}


def test_an_unusable_directory_reads_zero(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    assert EpochFile(blocker / "epoch").read() == 0
