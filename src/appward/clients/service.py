"""ClientService: every way of creating, changing or removing a client goes through here."""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

import anyio
from sqlalchemy import String, and_, cast, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.exc import StaleDataError

from appward.audit import AuditLog, EventTag, changed_value
from appward.clients.approval import (
    APPROVAL_STATES,
    APPROVED,
    PENDING,
    REJECTED,
    check_rejection_reason,
    initial_approval,
    needs_approval,
)
from appward.clients.auth_methods import is_public_method, secret_is_encrypted, uses_secret
from appward.clients.credential_changes import mark_credentials_changed
from appward.clients.metadata import ClientMetadata, GrantType, parse_client_metadata
from appward.clients.models import Client, ClientScope, ClientSecret
from appward.clients.scopes import ADMIN_SCOPE, ScopeService
from appward.clients.secret_encryption import SecretCipher, SecretDecryptionError
from appward.clients.secrets import (
    check_safe_to_revoke,
    check_secret_expiry,
    generate_secret,
    new_secret_id,
)
from appward.clients.snapshot import ClientSnapshot
from appward.clock import Clock
from appward.config import LifetimeBounds, SecretPolicy
from appward.errors import (
    AppwardError,
    FieldError,
    InvalidClientMetadata,
    InvalidInput,
    NotFound,
    PreconditionFailed,
)
from appward.hashing import Hasher
from appward.pagination import (
    Page,
    check_limit,
    decode_cursor,
    decode_text_cursor,
    encode_cursor,
    encode_text_cursor,
)
from appward.text import unsafe_character

REGISTRATION_SOURCES = ("admin", "portal", "dcr")
# What an administrator's verification vouches for: what users are shown of a client
# and where it sends them. A developer changing one of them loses the verification.
VOUCHED_FIELDS = frozenset(
    {
        "client_name",
        "client_name_localized",
        "logo_uri",
        "client_uri",
        "policy_uri",
        "tos_uri",
        "redirect_uris",
    }
)
STATUSES = ("active", "disabled")
SORTS = ("created", "-created", "name", "-name")
GRANT_TYPES = tuple(get_args(GrantType))
# Fields that describe the record rather than the client's metadata; an update never
# takes them from the metadata body.
METADATA_FIELDS = tuple(ClientMetadata.model_fields)
MAX_LABEL = 100
MAX_GRACE = 365 * 86400
MAX_BULK = 200  # clients changed by one bulk action: one page of the list at most
# Clients inserted by one statement of an import (each an executemany of multi-row
# INSERTs): large enough that a million clients take minutes, small enough that a batch's
# rows and audit events stay a few megabytes.
IMPORT_BATCH = 2000


@dataclass(frozen=True, slots=True)
class IssuedSecret:
    """A secret as created: the plaintext exists only in this object, for one response."""

    record: ClientSecret
    plaintext: str

    def __repr__(self) -> str:
        return f"IssuedSecret({self.record.id})"


@dataclass(frozen=True, slots=True)
class ClientChange:
    """A client after a change, with the secret the change issued, if any."""

    client: Client
    secret: IssuedSecret | None = None


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What ``appward clients import`` stored: the new client_ids in the order of their
    lines, and how many of them use a secret-based method yet have no secret (an import
    issues none: ``appward secrets add`` does, one client at a time, shown once)."""

    client_ids: list[str]
    without_secret: int


@dataclass(frozen=True, slots=True)
class ReencryptionResult:
    """What ``appward keys reencrypt-secrets`` did: secrets rewritten under the current
    key, already under it, and the ids of those no configured key decrypts."""

    rewritten: int
    current: int
    undecryptable: list[str]


@dataclass(frozen=True, slots=True)
class ClientFilter:
    name: str | None = None
    status: str | None = None
    registration_source: str | None = None
    approval: str | None = None
    grant_type: str | None = None
    owner: str | None = None
    sort: str = "created"  # created, -created, name or -name (case-insensitive)
    # A substring of the name or of the client_id (the console's one search box).
    query: str | None = None


CLIENT_ID_ALPHABET = string.ascii_letters + string.digits
CLIENT_ID_LENGTH = 24  # about 143 bits: unguessable, never reissued


def new_client_id() -> str:
    """Returns a fresh client_id of letters and digits only, so it is safe in URLs, Basic
    credentials and command lines (a leading '-' would read as an option)."""
    return "".join(secrets.choice(CLIENT_ID_ALPHABET) for _ in range(CLIENT_ID_LENGTH))


def metadata_of(client: Client) -> dict[str, Any]:
    """Returns the client's current metadata as the dict ClientMetadata validates."""
    data: dict[str, Any] = {}
    for name in METADATA_FIELDS:
        value = getattr(client, name) if name != "scope" else (" ".join(client.scopes) or None)
        if value is not None:
            data[name] = value
    return data


@dataclass(frozen=True, slots=True)
class ClientService:
    session: AsyncSession
    clock: Clock
    hasher: Hasher
    bounds: LifetimeBounds
    secret_policy: SecretPolicy
    audit: AuditLog
    # Encrypts the secrets of methods that need the plaintext (client_secret_jwt);
    # None where the caller never issues one (such a secret is then refused).
    secret_cipher: SecretCipher | None = None

    # --- reading ---

    async def get(self, client_id: str) -> Client:
        """Returns the client, active or disabled. Raises NotFound (also once deleted)."""
        client = await self.session.scalar(
            select(Client).where(Client.client_id == client_id, Client.deleted_at.is_(None))
        )
        if client is None:
            raise NotFound(f"no client with client_id {client_id!r}")
        return client

    async def search(
        self, filters: ClientFilter, *, cursor: str | None = None, limit: int = 50
    ) -> Page[Client]:
        """Returns one page of clients in ``filters.sort`` order (oldest first by default),
        in one SQL statement whatever the filters. Raises InvalidInput on a bad filter,
        sort or cursor."""
        check_limit(limit)
        _check_choice("sort", filters.sort, SORTS)
        by_name = filters.sort.endswith("name")
        descending = filters.sort.startswith("-")
        # The sort key as the database computes it (SQLite's lower() is ASCII-only), read
        # back with each row so the cursor holds exactly what the next page compares.
        name = func.lower(func.coalesce(Client.client_name, ""))
        stmt = (
            select(Client, name.label("sort_name"))
            .where(Client.deleted_at.is_(None))
            # The scopes in the same statement: a page is one query, never one per row.
            .options(joinedload(Client.scope_links))
            .limit(limit + 1)
        )
        if filters.name:
            stmt = stmt.where(
                func.lower(Client.client_name).like(_contains(filters.name), escape="\\")
            )
        if filters.query:
            pattern = _contains(filters.query)
            stmt = stmt.where(
                or_(
                    func.lower(Client.client_name).like(pattern, escape="\\"),
                    func.lower(Client.client_id).like(pattern, escape="\\"),
                )
            )
        if filters.status:
            _check_choice("status", filters.status, STATUSES)
            stmt = stmt.where(Client.status == filters.status)
        if filters.registration_source:
            _check_choice("source", filters.registration_source, REGISTRATION_SOURCES)
            stmt = stmt.where(Client.registration_source == filters.registration_source)
        if filters.approval:
            _check_choice("approval", filters.approval, APPROVAL_STATES)
            stmt = stmt.where(Client.approval == filters.approval)
        if filters.grant_type:
            _check_choice("grant_type", filters.grant_type, GRANT_TYPES)
            # The JSON list as text: a grant type is a quoted token in it, on both databases.
            stmt = stmt.where(cast(Client.grant_types, String).like(f'%"{filters.grant_type}"%'))
        if filters.owner:
            stmt = stmt.where(Client.owner == filters.owner)
        if by_name:
            after_name = decode_text_cursor(cursor)
            if after_name is not None:
                text, key = after_name
                beyond = (name < text) if descending else (name > text)
                tie = (Client.pk < key) if descending else (Client.pk > key)
                stmt = stmt.where(or_(beyond, and_(name == text, tie)))
            order = (name.desc(), Client.pk.desc()) if descending else (name, Client.pk)
            stmt = stmt.order_by(*order)
        else:
            after = decode_cursor(cursor)
            if after is not None:
                stmt = stmt.where(Client.pk < after if descending else Client.pk > after)
            stmt = stmt.order_by(Client.pk.desc() if descending else Client.pk)
        rows = list((await self.session.execute(stmt)).unique().tuples())
        more = len(rows) > limit
        rows = rows[:limit]
        clients = [client for client, _ in rows]
        if not more:
            return Page(clients, None)
        last, last_name = rows[-1]
        if by_name:
            return Page(clients, encode_text_cursor(last_name, last.pk))
        return Page(clients, encode_cursor(last.pk))

    # --- creating and changing ---

    async def create(
        self,
        data: Any,
        *,
        registration_source: str = "admin",
        status: str = "active",
    ) -> ClientChange:
        """Returns the new client and, for secret-based methods, its first secret.

        ``data`` is RFC 7591 metadata, plus optionally the record's ``owner``.
        Raises InvalidClientMetadata / InvalidRedirectUri; nothing is stored then.
        """
        _check_choice("registration_source", registration_source, REGISTRATION_SOURCES)
        metadata, owner, approval = await self._checked_new(data, registration_source, {})
        client = Client(
            **_new_record(registration_source, owner, status, approval, self.clock.now()),
            scope_links=[],  # loaded-and-empty, so reading it later needs no query
        )
        _apply(client, metadata)
        self.session.add(client)
        await self.session.flush()
        await self.audit.record(
            EventTag.CLIENT_CREATED,
            client_id=client.client_id,
            changes=_creation_changes(metadata, registration_source, approval),
        )
        secret = await self._issue_secret(client, "initial") if metadata.uses_secret else None
        return ClientChange(client, secret)

    async def import_clients(self, lines: Iterable[str]) -> ImportResult:
        """Registers one client per line of ``lines`` (JSON lines: each an RFC 7591
        metadata object, plus optionally ``owner``, as ``create`` takes it), each checked
        by the same validator and scope checks as ``create``, as an administrator's
        registration. Blank lines are skipped. Rows go in IMPORT_BATCH at a time, all in
        the caller's one transaction, with one ``client:imported`` audit event each;
        client_ids are generated as ``create`` does. No secret is issued or stored.

        Returns the ImportResult. Raises the validator's error (InvalidClientMetadata,
        InvalidRedirectUri, InvalidInput) with ``line N:`` before its description for
        the first bad line; the caller's transaction must then be rolled back, so nothing
        of the file is stored.
        """
        # What the scope checks concluded per set of scopes (an import holds few distinct
        # ones): the approval state it starts in, so a million lines are not a million
        # registry queries. A set that fails its check raises at its first line.
        approvals: dict[tuple[Any, ...], str] = {}
        client_ids: list[str] = []
        without_secret = 0
        batch: list[tuple[dict[str, Any], ClientMetadata]] = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row, metadata = await self._import_row(line, approvals)
            except AppwardError as exc:
                raise type(exc)(
                    f"line {number}: {exc.description}", detail=exc.detail, fields=exc.fields
                ) from None
            client_ids.append(row["client_id"])
            without_secret += metadata.uses_secret
            batch.append((row, metadata))
            if len(batch) == IMPORT_BATCH:
                await self._insert_imported(batch)
                batch = []
        if batch:
            await self._insert_imported(batch)
        return ImportResult(client_ids, without_secret)

    async def _import_row(
        self, line: str, approvals: dict[tuple[Any, ...], str]
    ) -> tuple[dict[str, Any], ClientMetadata]:
        """Returns one line's clients row (as ``create`` would fill it) and metadata."""
        try:
            data = json.loads(line)
        except ValueError as exc:
            raise InvalidClientMetadata(f"not JSON: {exc}") from None
        metadata, owner, approval = await self._checked_new(data, "admin", approvals)
        row = {
            **_metadata_columns(metadata),
            **_new_record("admin", owner, "active", approval, self.clock.now()),
            "revision": 1,  # the version counter the ORM would start at
        }
        return row, metadata

    async def _checked_new(
        self, data: Any, registration_source: str, approvals: dict[tuple[Any, ...], str]
    ) -> tuple[ClientMetadata, Any, str]:
        """Returns a new client's validated metadata, its owner (or _KEEP) and the approval
        state it starts in, after the scope checks. ``approvals`` remembers the outcome per
        everything the checks read (the source, the scopes, skip_consent), for a caller
        registering many clients."""
        data, owner = _split_owner(data)
        metadata = parse_client_metadata(data, self.bounds)
        checked = (registration_source, tuple(metadata.scopes), metadata.skip_consent)
        if checked not in approvals:
            await self._check_scopes_allowed(metadata, registration_source)
            approvals[checked] = initial_approval(
                registration_source, await self._sensitive(metadata.scopes)
            )
        return metadata, owner, approvals[checked]

    async def _insert_imported(self, batch: list[tuple[dict[str, Any], ClientMetadata]]) -> None:
        """Inserts one batch of imported clients, their scopes and their audit events,
        as a few multi-row statements (insertmanyvalues), not one per client."""
        pks = (
            await self.session.scalars(
                insert(Client).returning(Client.pk, sort_by_parameter_order=True),
                [row for row, _ in batch],
            )
        ).all()
        links = [
            {"client_pk": pk, "scope_name": name}
            for pk, (_, metadata) in zip(pks, batch, strict=True)
            for name in sorted(set(metadata.scopes))
        ]
        if links:
            await self.session.execute(insert(ClientScope), links)
        await self.audit.record_many(
            EventTag.CLIENT_IMPORTED,
            [
                (row["client_id"], _creation_changes(metadata, "admin", row["approval"]))
                for row, metadata in batch
            ],
        )

    async def update(
        self,
        client_id: str,
        patch: Any,
        *,
        expected_revision: int | None,
        by_developer: bool = False,
    ) -> ClientChange:
        """Applies a JSON merge patch (RFC 7396) of metadata fields; null resets a field.
        ``by_developer``: the change is the client's developer's own (the portal, RFC
        7592), so a change of what users are shown of it (VOUCHED_FIELDS) ends an
        administrator's verification: they vouched for the client as it was.

        Returns the updated client, and a new secret if the change moved a client without
        one onto a secret-based method. Raises NotFound, PreconditionFailed when the client
        changed since ``expected_revision``, InvalidClientMetadata on bad values.
        """
        patch, owner = _split_owner(patch)
        client = await self._get_for_update(client_id)
        _check_revision(client, expected_revision)
        snapshot_before = ClientSnapshot.of(client)
        current = metadata_of(client)
        merged = {**current}
        for name, value in patch.items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        _rederive_defaults(merged, current, patch)
        metadata = parse_client_metadata(merged, self.bounds)
        await self._check_scopes_allowed(metadata, client.registration_source)
        # Compared as stored, not re-validated: tightened server bounds must not keep an
        # admin from fixing the very field they now refuse.
        before = current
        after = metadata.to_wire()
        # Each changed field as {"old": ..., "new": ...} (audit.field_changes reads them).
        changed: dict[str, object] = {
            k: changed_value(before.get(k), after.get(k))
            for k in sorted(before.keys() | after.keys())
            if before.get(k) != after.get(k)
        }
        if owner is not _KEEP and owner != client.owner:
            changed["owner"] = changed_value(client.owner, owner)
            client.owner = owner
        if not changed:
            return ClientChange(client)
        if by_developer and client.verified and not changed.keys().isdisjoint(VOUCHED_FIELDS):
            changed["verified"] = changed_value(True, False)
            client.verified = False
        gained = sorted(set(metadata.scopes) - set(client.scopes))
        if client.approval == APPROVED and needs_approval(
            client.registration_source, await self._sensitive(gained)
        ):
            # A reviewed client that asks for a new sensitive scope is reviewed again.
            changed["approval"] = changed_value(client.approval, PENDING)
            client.approval = PENDING
        method_before = client.token_endpoint_auth_method
        _apply(client, metadata)
        client.updated_at = self.clock.now()
        await self._flush_versioned()
        await self.audit.record(EventTag.CLIENT_UPDATED, client_id=client_id, changes=changed)
        if ClientSnapshot.of(client) != snapshot_before:
            # Only what the credential caches hold: a new name or logo need not cost every
            # worker's cached verification of this client an argon2id run.
            mark_credentials_changed(self.session, client_id)
        secret = None
        if "token_endpoint_auth_method" in changed:
            secret = await self._settle_credentials_after_method_change(
                client, metadata, method_before
            )
        return ClientChange(client, secret)

    async def set_status(self, client_id: str, status: str) -> Client:
        """Disables or re-enables a client at once. Raises NotFound."""
        _check_choice("status", status, STATUSES)
        client = await self._get_for_update(client_id)
        await self._change_status(client, status)
        return client

    async def disable_all(self, client_ids: list[str]) -> int:
        """Disables every client of ``client_ids`` (any number: MAX_BULK at a time), e.g.
        the apps a disabled developer owns. Returns how many there were."""
        for start in range(0, len(client_ids), MAX_BULK):
            await self.set_status_of(client_ids[start : start + MAX_BULK], "disabled")
        return len(client_ids)

    async def set_status_of(self, client_ids: list[str], status: str) -> list[Client]:
        """Disables or re-enables several clients at once (the console's bulk action), all
        or none: every one is found and locked in one statement before any changes.

        Returns them in the order given. Raises InvalidInput for no ids or more than
        MAX_BULK, NotFound naming the first unknown (or deleted) one.
        """
        _check_choice("status", status, STATUSES)
        wanted = list(dict.fromkeys(client_ids))
        if not 1 <= len(wanted) <= MAX_BULK:
            raise InvalidInput(
                f"select between 1 and {MAX_BULK} clients",
                fields=[FieldError("selected", f"select between 1 and {MAX_BULK} clients")],
            )
        found = {
            client.client_id: client
            for client in await self.session.scalars(
                select(Client)
                .where(Client.client_id.in_(wanted), Client.deleted_at.is_(None))
                .order_by(Client.pk)
                .with_for_update()
            )
        }
        missing = [client_id for client_id in wanted if client_id not in found]
        if missing:
            raise NotFound(f"no client with client_id {missing[0]!r}")
        for client_id in wanted:
            await self._change_status(found[client_id], status)
        return [found[client_id] for client_id in wanted]

    async def _change_status(self, client: Client, status: str) -> None:
        client_id = client.client_id
        if client.status != status:
            client.status = status
            client.updated_at = self.clock.now()
            if status == "disabled":
                # Tokens issued before a disable stay dead once it is enabled again.
                client.tokens_not_before = client.updated_at
            await self._flush_versioned()
            tag = EventTag.CLIENT_DISABLED if status == "disabled" else EventTag.CLIENT_ENABLED
            await self.audit.record(tag, client_id=client_id, changes={"status": status})
            mark_credentials_changed(self.session, client_id)

    async def revoke_tokens(self, client_id: str) -> Client:
        """Revokes every access token, refresh token and code issued to the client so far,
        at once and in every process, without disabling it. Raises NotFound."""
        client = await self._get_for_update(client_id)
        now = self.clock.now()
        client.tokens_not_before = now
        client.updated_at = now
        await self._flush_versioned()
        await self.audit.record(
            EventTag.CLIENT_TOKENS_REVOKED,
            client_id=client_id,
            changes={"tokens_not_before": now.isoformat()},
        )
        # The credential caches hold the client's snapshot, which refresh and code
        # redemption read: every process must drop it, as for a secret revocation.
        mark_credentials_changed(self.session, client_id)
        return client

    async def approve(self, client_id: str) -> Client:
        """Approves a pending (or rejected) client: it may get tokens from now on.
        Raises NotFound."""
        return await self._set_approval(client_id, APPROVED, None)

    async def reject(self, client_id: str, reason: object) -> Client:
        """Rejects the client with a reason its developer sees; it gets no tokens, and
        those it holds stop working. Raises NotFound, InvalidInput for a bad reason."""
        return await self._set_approval(client_id, REJECTED, check_rejection_reason(reason))

    async def set_verified(self, client_id: str, verified: bool) -> Client:
        """Marks the application verified by an administrator, or no longer. Raises NotFound."""
        client = await self._get_for_update(client_id)
        if client.verified != verified:
            client.verified = verified
            client.updated_at = self.clock.now()
            await self._flush_versioned()
            tag = EventTag.CLIENT_VERIFIED if verified else EventTag.CLIENT_UNVERIFIED
            await self.audit.record(tag, client_id=client_id, changes={"verified": verified})
        return client

    async def set_introspection_permission(self, client_id: str, allowed: bool) -> Client:
        """Grants the client the permission to introspect other clients' tokens (a
        resource server, clients/policy.may_introspect), or withdraws it, at once in every
        process. Raises NotFound; InvalidInput (field ``may_introspect_others``) when
        granting it to a public client, which may not introspect at all (RFC 7662 §2.1,
        policy.check_may_introspect)."""
        client = await self._get_for_update(client_id)
        if allowed and is_public_method(client.token_endpoint_auth_method):
            message = "a public client cannot introspect tokens, so it cannot hold this permission"
            raise InvalidInput(message, fields=[FieldError("may_introspect_others", message)])
        if client.may_introspect_others != allowed:
            client.may_introspect_others = allowed
            client.updated_at = self.clock.now()
            await self._flush_versioned()
            tag = (
                EventTag.CLIENT_INTROSPECTION_GRANTED
                if allowed
                else EventTag.CLIENT_INTROSPECTION_WITHDRAWN
            )
            await self.audit.record(
                tag, client_id=client_id, changes={"may_introspect_others": allowed}
            )
            # The snapshot every credential cache holds carries the permission.
            mark_credentials_changed(self.session, client_id)
        return client

    async def _set_approval(self, client_id: str, approval: str, reason: str | None) -> Client:
        client = await self._get_for_update(client_id)
        if client.approval == approval and client.rejection_reason == reason:
            return client
        client.approval = approval
        client.rejection_reason = reason
        client.updated_at = self.clock.now()
        await self._flush_versioned()
        tag = EventTag.CLIENT_APPROVED if approval == APPROVED else EventTag.CLIENT_REJECTED
        changes: dict[str, object] = {"approval": approval}
        if reason is not None:
            changes["rejection_reason"] = reason
        await self.audit.record(tag, client_id=client_id, changes=changes)
        mark_credentials_changed(self.session, client_id)
        return client

    async def delete(self, client_id: str) -> None:
        """Deletes a client: its secrets are revoked and its client_id is never reused.

        Raises NotFound.
        """
        client = await self._get_for_update(client_id)
        now = self.clock.now()
        await self._revoke_all_secrets(client, now)
        client.status = "disabled"
        client.deleted_at = now
        client.updated_at = now
        client.scope_links.clear()
        await self._flush_versioned()
        await self.audit.record(EventTag.CLIENT_DELETED, client_id=client_id)
        mark_credentials_changed(self.session, client_id)

    async def delete_confirmed(self, client_id: str, typed_name: str) -> None:
        """Deletes the client once the person deleting it has typed its name (its
        client_id when it has none), the console's guard against deleting the wrong one.

        Raises NotFound; InvalidInput (field ``confirm_name``), deleting nothing, when the
        typed name is not the client's.
        """
        client = await self._get_for_update(client_id)
        expected = client.client_name or client.client_id
        if typed_name.strip() != expected.strip():
            raise InvalidInput(
                "the typed name is not the client's name",
                fields=[
                    FieldError(
                        "confirm_name",
                        "Type the client's name exactly as shown to delete it",
                    )
                ],
            )
        await self.delete(client_id)

    # --- secrets ---

    async def add_secret(
        self,
        client_id: str,
        *,
        label: str | None = None,
        expire_others_in: int | None = None,
        expires_at: datetime | Literal["default"] | None = "default",
    ) -> IssuedSecret:
        """Adds a secret while the others keep working, for rotation without downtime.

        ``expire_others_in`` gives every other usable secret that many seconds of grace
        (an earlier expiry they already have is kept). ``expires_at`` is the new secret's
        expiry (None: never; "default": the server's client_secret_lifetime). Raises
        NotFound, InvalidInput (an expiry not in the future, or too far).
        """
        _check_label(label)
        if expires_at != "default":
            check_secret_expiry(expires_at, self.clock.now())
            expires_at = expires_at.astimezone(UTC) if expires_at else None
        if expire_others_in is not None and not 0 <= expire_others_in <= MAX_GRACE:
            raise InvalidInput(
                f"expire_others_in must be between 0 and {MAX_GRACE} seconds",
                fields=[FieldError("expire_others_in", f"must be 0..{MAX_GRACE} seconds")],
            )
        client = await self._get_for_update(client_id)
        if not uses_secret(client.token_endpoint_auth_method):
            raise InvalidInput(
                f"this client authenticates with {client.token_endpoint_auth_method}, "
                "not with a client secret"
            )
        if expire_others_in is not None:
            deadline = self.clock.now() + timedelta(seconds=expire_others_in)
            for other in await self._usable_secrets(client):
                if other.expires_at is None or other.expires_at > deadline:
                    other.expires_at = deadline
                    mark_credentials_changed(self.session, client_id)
                    await self.audit.record(
                        EventTag.CLIENT_SECRET_EXPIRY_SET,
                        client_id=client_id,
                        target=other.id,
                        changes={"expires_at": deadline.isoformat()},
                    )
        return await self._issue_secret(client, label, expires_at)

    async def list_secrets(self, client_id: str) -> list[ClientSecret]:
        """Returns every secret of the client, revoked and expired ones included."""
        client = await self.get(client_id)
        result = await self.session.scalars(
            select(ClientSecret)
            .where(ClientSecret.client_pk == client.pk)
            .order_by(ClientSecret.created_at, ClientSecret.id)
        )
        return list(result)

    async def revoke_secret(
        self, client_id: str, secret_id: str, *, confirmed: bool = False
    ) -> ClientSecret:
        """Revokes one secret at once (safe revoke: one used in the last 24 hours only
        when ``confirmed``).

        Raises NotFound for a secret of another client; ConfirmationRequired, naming
        when it was last used, for a recently used one without ``confirmed``.
        """
        client = await self._get_for_update(client_id)
        secret = await self.session.scalar(
            select(ClientSecret).where(
                ClientSecret.id == secret_id, ClientSecret.client_pk == client.pk
            )
        )
        if secret is None:
            raise NotFound(f"client {client_id!r} has no secret {secret_id!r}")
        if secret.revoked_at is None:
            check_safe_to_revoke(
                secret.id, secret.last_used_at, self.clock.now(), confirmed=confirmed
            )
            secret.revoked_at = self.clock.now()
            await self.session.flush()
            await self.audit.record(
                EventTag.CLIENT_SECRET_REVOKED, client_id=client_id, target=secret_id
            )
            mark_credentials_changed(self.session, client_id)
        return secret

    async def reencrypt_secrets(self) -> ReencryptionResult:
        """Rewrites every encrypted client secret (revoked and expired ones too) under the
        current key-encryption key, so the previous keys can be retired
        (APPWARD_PREVIOUS_KEY_ENCRYPTION_KEYS). Hashed secrets are untouched.

        Returns how many were rewritten, were current already, or cannot be decrypted
        under any configured key (left as they are, by id). Raises RuntimeError without
        a secret cipher.
        """
        if self.secret_cipher is None:
            raise RuntimeError("re-encrypting client secrets needs a secret cipher")
        rows = await self.session.execute(
            select(ClientSecret, Client.client_id)
            .join(Client, Client.pk == ClientSecret.client_pk)
            .where(ClientSecret.secret_encrypted.is_not(None))
            .order_by(ClientSecret.id)
            .with_for_update(of=ClientSecret)
        )
        rewritten = current = 0
        undecryptable: list[str] = []
        for record, client_id in rows.tuples():
            assert record.secret_encrypted is not None
            if self.secret_cipher.is_current(record.secret_encrypted):
                current += 1
                continue
            try:
                record.secret_encrypted = self.secret_cipher.reencrypt(
                    record.secret_encrypted, client_id=client_id, secret_id=record.id
                )
            except SecretDecryptionError:
                undecryptable.append(record.id)
                continue
            rewritten += 1
        await self.session.flush()
        return ReencryptionResult(rewritten, current, undecryptable)

    # --- internals ---

    async def _issue_secret(
        self,
        client: Client,
        label: str | None,
        expires_at: datetime | Literal["default"] | None = "default",
    ) -> IssuedSecret:
        secret_id = new_secret_id()
        plaintext = generate_secret(secret_id)
        hashed: str | None = None
        encrypted: bytes | None = None
        if secret_is_encrypted(client.token_endpoint_auth_method):
            # The method needs the plaintext back (an HMAC key): encrypted, never hashed.
            if self.secret_cipher is None:
                raise RuntimeError("issuing an encrypted client secret needs a secret cipher")
            encrypted = self.secret_cipher.encrypt(
                plaintext, client_id=client.client_id, secret_id=secret_id
            )
        else:
            # argon2 is deliberately slow: hash in a worker thread, off the event loop.
            hashed = await anyio.to_thread.run_sync(self.hasher.hash, plaintext)
        now = self.clock.now()
        if expires_at == "default":
            lifetime = self.secret_policy.default_lifetime
            expires_at = now + timedelta(seconds=lifetime) if lifetime else None
        record = ClientSecret(
            id=secret_id,
            client_pk=client.pk,
            label=label,
            secret_hash=hashed,
            secret_encrypted=encrypted,
            created_at=now,
            expires_at=expires_at,
        )
        self.session.add(record)
        await self.session.flush()
        await self.audit.record(
            EventTag.CLIENT_SECRET_ADDED,
            client_id=client.client_id,
            target=secret_id,
            changes={"label": label, "expires_at": _iso(record.expires_at)},
        )
        return IssuedSecret(record, plaintext)

    async def _usable_secrets(self, client: Client) -> list[ClientSecret]:
        now = self.clock.now()
        result = await self.session.scalars(
            select(ClientSecret).where(
                ClientSecret.client_pk == client.pk, ClientSecret.revoked_at.is_(None)
            )
        )
        return [s for s in result if s.is_usable(now)]

    async def _revoke_all_secrets(self, client: Client, now: datetime) -> None:
        revoked = await self.session.scalars(
            update(ClientSecret)
            .where(ClientSecret.client_pk == client.pk, ClientSecret.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(ClientSecret.id)
        )
        for secret_id in revoked:
            await self.audit.record(
                EventTag.CLIENT_SECRET_REVOKED, client_id=client.client_id, target=secret_id
            )

    async def _settle_credentials_after_method_change(
        self, client: Client, metadata: ClientMetadata, method_before: str
    ) -> IssuedSecret | None:
        if not metadata.uses_secret:
            # A secret that can no longer be used is a liability: revoke it.
            await self._revoke_all_secrets(client, self.clock.now())
            return None
        if secret_is_encrypted(method_before) != secret_is_encrypted(
            client.token_endpoint_auth_method
        ):
            # Between a hashed and an encrypted storage no secret converts (a hash cannot
            # be decrypted, and a plaintext is never kept to hash): the old secrets are
            # revoked and one new secret, stored the new way, is issued in the response.
            await self._revoke_all_secrets(client, self.clock.now())
            mark_credentials_changed(self.session, client.client_id)
            return await self._issue_secret(client, "initial")
        if await self._usable_secrets(client):
            return None
        return await self._issue_secret(client, "initial")

    async def _sensitive(self, names: list[str]) -> list[str]:
        return await ScopeService(self.session, self.clock, self.audit).sensitive(names)

    async def _check_scopes_allowed(self, metadata: ClientMetadata, source: str) -> None:
        """Raises InvalidClientMetadata for scopes not in the registry, and for what only an
        administrator may give: admin-only scopes and skip_consent."""
        scopes = ScopeService(self.session, self.clock, self.audit)
        unknown = await scopes.unknown(metadata.scopes)
        if unknown:
            raise InvalidClientMetadata(
                f"scope: unknown scope(s) {', '.join(unknown)}",
                fields=[FieldError("scope", f"not in the scope registry: {', '.join(unknown)}")],
            )
        if source == "admin":
            return
        reserved = await scopes.admin_only(metadata.scopes)
        if reserved:
            raise InvalidClientMetadata(
                f"scope: {', '.join(reserved)} can only be given by an administrator",
                fields=[FieldError("scope", f"admin-only: {', '.join(reserved)}")],
            )
        if metadata.skip_consent:
            raise InvalidClientMetadata(
                "skip_consent can only be set by an administrator",
                fields=[FieldError("skip_consent", "admin only")],
            )

    async def _get_for_update(self, client_id: str) -> Client:
        """Returns the client with its row locked until commit, so concurrent credential
        changes (a secret added while the client is deleted) serialise instead of racing."""
        client: Client | None = await self.session.scalar(
            select(Client)
            .where(Client.client_id == client_id, Client.deleted_at.is_(None))
            .with_for_update()
        )
        if client is None:
            raise NotFound(f"no client with client_id {client_id!r}")
        return client

    # --- the bootstrap admin ---

    async def create_admin_client(self, name: str) -> ClientChange:
        """Returns a new client_credentials client holding the admin scope, with its
        first secret."""
        return await self.create(
            {
                "client_name": name,
                "grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "client_secret_basic",
                "scope": ADMIN_SCOPE,
            },
            registration_source="admin",
        )

    async def has_active_admin_client(self) -> bool:
        found = await self.session.scalar(
            select(Client.pk)
            .join(ClientScope)
            .where(
                ClientScope.scope_name == ADMIN_SCOPE,
                Client.status == "active",
                Client.deleted_at.is_(None),
            )
            .limit(1)
        )
        return found is not None

    async def _flush_versioned(self) -> None:
        try:
            await self.session.flush()
        except StaleDataError:
            raise PreconditionFailed(
                "the client was changed by someone else meanwhile; read it again"
            ) from None


# Fields whose default follows grant_types (RFC 7591 §2.1 pairs them).
_DERIVED_FROM_GRANTS: dict[str, Callable[[list[str]], object]] = {
    "response_types": lambda grants: ["code"] if "authorization_code" in grants else [],
    "issue_refresh_tokens": lambda grants: "refresh_token" in grants,
}


def _rederive_defaults(
    merged: dict[str, Any], current: dict[str, Any], patch: dict[str, Any]
) -> None:
    """When grant_types change, a field still holding the default derived from the old
    grant types is dropped so it is derived again; one the caller set is kept."""
    if "grant_types" not in patch:
        return
    old_grants = current.get("grant_types", [])
    for name, derive in _DERIVED_FROM_GRANTS.items():
        if name not in patch and current.get(name) == derive(old_grants):
            merged.pop(name, None)


def _metadata_columns(metadata: ClientMetadata) -> dict[str, Any]:
    """Returns the clients columns ``metadata`` sets (its scopes are rows of their own)."""
    columns = {name: getattr(metadata, name) for name in METADATA_FIELDS if name != "scope"}
    if columns["tls_client_auth_san_ip"] is not None:
        columns["tls_client_auth_san_ip"] = str(columns["tls_client_auth_san_ip"])
    return columns


def _new_record(
    registration_source: str, owner: Any, status: str, approval: str, now: datetime
) -> dict[str, Any]:
    """Returns the columns a new client starts with, besides its metadata."""
    return {
        "client_id": new_client_id(),
        "registration_source": registration_source,
        "owner": None if owner is _KEEP else owner,
        "status": status,
        "approval": approval,
        "verified": False,
        "may_introspect_others": False,
        "created_at": now,
        "updated_at": now,
    }


def _creation_changes(
    metadata: ClientMetadata, registration_source: str, approval: str
) -> dict[str, Any]:
    """Returns what a new client's audit event records."""
    return {**metadata.to_wire(), "registration_source": registration_source, "approval": approval}


def _apply(client: Client, metadata: ClientMetadata) -> None:
    for name, value in _metadata_columns(metadata).items():
        setattr(client, name, value)
    wanted = set(metadata.scopes)
    for link in [link for link in client.scope_links if link.scope_name not in wanted]:
        client.scope_links.remove(link)
    for name in sorted(wanted - set(client.scopes)):
        client.scope_links.append(ClientScope(scope_name=name))


class _Keep:
    """Marks a record field the caller did not mention."""


_KEEP: Any = _Keep()


def _split_owner(data: Any) -> tuple[dict[str, Any], Any]:
    """Returns the metadata without ``owner``, and the owner (or _KEEP if absent)."""
    if not isinstance(data, dict):
        raise InvalidClientMetadata("client metadata must be a JSON object")
    data = dict(data)
    if "owner" not in data:
        return data, _KEEP
    owner = data.pop("owner")
    if owner is not None and (
        not isinstance(owner, str)
        or not 0 < len(owner) <= 200
        or unsafe_character(owner) is not None
    ):
        raise InvalidInput(
            "owner must be a string of 1-200 characters",
            fields=[FieldError("owner", "must be a string of 1-200 characters")],
        )
    return data, owner


def _check_revision(client: Client, expected: int | None) -> None:
    if expected is not None and expected != client.revision:
        raise PreconditionFailed(
            f"the client is at revision {client.revision}, not {expected}; read it again"
        )


def _contains(text: str) -> str:
    """Returns the LIKE pattern (escape character a backslash) matching values that hold
    ``text``, case-insensitively: its wildcards are taken literally."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _check_choice(field: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InvalidInput(
            f"{field} must be one of {', '.join(allowed)}",
            fields=[FieldError(field, f"must be one of {', '.join(allowed)}")],
        )


def _check_label(label: str | None) -> None:
    if label is not None and (
        len(label) > MAX_LABEL or not label.strip() or unsafe_character(label) is not None
    ):
        raise InvalidInput(
            "label must be 1-100 characters",
            fields=[FieldError("label", "must be 1-100 characters, not blank")],
        )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
