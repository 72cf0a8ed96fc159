"""Each client-authentication method bound to the check of its proof, keyed by IANA name.

``clients/auth_methods.py`` says what each method means for a registration; this module
says which function proves it, and refuses to load if a method has no check, so a method
can never be registered without being enforced. Adding one is a module under ``auth/``,
its descriptor, and one line here.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from appward.auth.client_secret import authenticate_with_secret
from appward.auth.client_secret_jwt import authenticate_with_secret_jwt
from appward.auth.credentials import Authenticate
from appward.auth.none import authenticate_public
from appward.auth.private_key_jwt import authenticate_with_private_key_jwt
from appward.clients.auth_methods import AUTH_METHODS

AUTHENTICATORS: Mapping[str, Authenticate] = MappingProxyType(
    {
        "client_secret_basic": authenticate_with_secret,
        "client_secret_post": authenticate_with_secret,
        "none": authenticate_public,
        "private_key_jwt": authenticate_with_private_key_jwt,
        "client_secret_jwt": authenticate_with_secret_jwt,
    }
)

if set(AUTHENTICATORS) != set(AUTH_METHODS):  # pragma: no cover (a wiring mistake)
    raise RuntimeError("every method of clients.auth_methods needs exactly one authenticator")

# Discovery's token_endpoint_auth_methods_supported, in the registry's order.
METHODS_SUPPORTED: tuple[str, ...] = tuple(AUTH_METHODS)
