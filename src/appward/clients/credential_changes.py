"""Which clients' credentials a unit of work changed, so caches elsewhere can be told."""

CREDENTIALS_CHANGED = "appward.credentials_changed"


def mark_credentials_changed(session: object, client_id: str) -> None:
    """Notes, on the unit of work, that a client's credentials or policy changed; the
    adapter tells every credential cache once the transaction has committed."""
    info = getattr(session, "info", None)
    if isinstance(info, dict):
        info.setdefault(CREDENTIALS_CHANGED, set()).add(client_id)


def changed_credentials(session: object) -> set[str]:
    """Returns (and forgets) the clients whose credentials this unit of work changed."""
    info = getattr(session, "info", None)
    if not isinstance(info, dict):
        return set()
    changed: set[str] = info.pop(CREDENTIALS_CHANGED, set())
    return changed
