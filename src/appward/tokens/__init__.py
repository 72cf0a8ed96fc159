"""Tokens: signing keys, JWT access tokens and the grants that issue them."""
