"""Dynamic Client Registration (RFC 7591) and its management protocol (RFC 7592)."""
