"""An app's secrets: add, rotate and revoke, as on the console."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
