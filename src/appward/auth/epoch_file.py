"""A file through which the processes of one host tell each other what changed.

A serve worker, another worker and the CLI share nothing but the data dir, so a change one
of them commits (a secret revoked, a client disabled, a signing key rotated) is announced by
rewriting a small file every other process has mapped into memory: looking at it, on every
token request, is a memory read rather than a system call.

The file holds a sequence number and, behind it, a ring of the last SLOTS changes, each
naming one client_id or "everything". A reader that last saw sequence n and now sees m
drops exactly the clients named in slots n+1..m: one developer's change to their client
must not empty every worker's cache of every client (each drop costs the next request of
every client an argon2id run). A reader that fell behind by more than the ring holds, or
that meets an "everything" slot, drops everything, which is always safe.

Writers append under an exclusive flock (changes are rare; readers never lock) and write
the slots before the sequence number, so a reader never sees a number whose slots are not
there yet. Readers check the number again after reading the slots: a writer may have
overwritten the oldest of them meanwhile.

The layout is fixed: never shortened, only rewritten in place, so every mapping sees each
change. An older Appward's file (eight random bytes) reads as an arbitrary sequence number,
so a mixed host drops everything once, and keeps working.
"""

from __future__ import annotations

import fcntl
import mmap
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

SEQUENCE_SIZE = 8
SLOT_SIZE = 128  # one length byte, then up to 127 bytes of client_id (UTF-8)
SLOTS = 256
# A change naming more clients than this is written as "everything": a reader must be
# able to read a whole change before the ring wraps under it (see Changes.since).
MAX_NAMED = 16
SIZE = SEQUENCE_SIZE + SLOTS * SLOT_SIZE
_EVERYTHING = b"\x00"
_WRAP = 1 << 64


@dataclass(frozen=True, slots=True)
class Changes:
    """What changed between two looks: ``client_ids`` None means everything."""

    sequence: int
    client_ids: frozenset[str] | None

    @property
    def any(self) -> bool:
        return self.client_ids is None or bool(self.client_ids)


class EpochFile:
    SIZE = SIZE

    def __init__(self, path: Path) -> None:
        self.path = path
        self._view: mmap.mmap | None = None

    def read(self) -> int:
        """Returns the current sequence number (0 while the file cannot be opened)."""
        view = self._view if self._view is not None else self._map()
        if view is None:
            return 0
        return int.from_bytes(view[:SEQUENCE_SIZE], "little")

    def changes_since(self, seen: int) -> Changes:
        """Returns the current sequence number and what changed after ``seen``."""
        current = self.read()
        behind = (current - seen) % _WRAP
        if behind == 0:
            return Changes(current, frozenset())
        view = self._view
        if view is None or behind > SLOTS - MAX_NAMED:
            return Changes(current, None)
        named: set[str] = set()
        for sequence in range(seen + 1, seen + behind + 1):
            client_id = _slot_client_id(view, sequence % SLOTS)
            if client_id is None:
                return Changes(current, None)
            named.add(client_id)
        # A writer that appended meanwhile may have reused the oldest slots read above.
        if (self.read() - seen) % _WRAP > SLOTS - MAX_NAMED:
            return Changes(current, None)
        return Changes(current, frozenset(named))

    def bump(self, client_ids: Collection[str] = ()) -> None:
        """Announces that ``client_ids`` changed (none named: everything did)."""
        slots = [_slot(i) for i in sorted(client_ids)]
        if not slots or len(slots) > MAX_NAMED or any(s is None for s in slots):
            slots = [None]
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            sequence = int.from_bytes(os.pread(fd, SEQUENCE_SIZE, 0), "little")
            for slot in slots:
                sequence = (sequence + 1) % _WRAP
                offset = SEQUENCE_SIZE + (sequence % SLOTS) * SLOT_SIZE
                os.pwrite(fd, slot if slot is not None else _EVERYTHING, offset)
            os.pwrite(fd, sequence.to_bytes(SEQUENCE_SIZE, "little"), 0)
        finally:
            os.close(fd)  # releases the lock

    def _map(self) -> mmap.mmap | None:
        try:
            fd = self._open()
        except OSError:
            return None  # e.g. a read-only data dir: tried again on the next read
        try:
            self._view = mmap.mmap(fd, SIZE, prot=mmap.PROT_READ)
        finally:
            os.close(fd)
        return self._view

    def _open(self) -> int:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # as keys.py's
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        if os.fstat(fd).st_size < SIZE:
            # Grows a new (or an older version's) file to its size; never shortens, so a
            # change written by another process in between survives.
            os.ftruncate(fd, SIZE)
        return fd


def _slot(client_id: str) -> bytes | None:
    encoded = client_id.encode()
    if not encoded or len(encoded) >= SLOT_SIZE:
        return None  # announced as "everything"
    return bytes([len(encoded)]) + encoded


def _slot_client_id(view: mmap.mmap, index: int) -> str | None:
    offset = SEQUENCE_SIZE + index * SLOT_SIZE
    length = view[offset]
    if length == 0 or length >= SLOT_SIZE:
        return None  # empty, or not written by this code: everything, to be safe
    try:
        return view[offset + 1 : offset + 1 + length].decode()
    except UnicodeDecodeError:
        return None  # a torn or foreign slot: everything, to be safe
