"""End users: local accounts, and the consent they give to clients."""
