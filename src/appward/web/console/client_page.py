"""A client's page: its header (enable/disable, delete, revoke all tokens), the Settings
tab and the Activity tab.
"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
