"""A client's Credentials tab: its secrets, adding one (with a grace period for the others)
and the safe revoke.
"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
