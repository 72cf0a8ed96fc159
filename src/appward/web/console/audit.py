"""The audit log, with filters (actor, action, client, time range)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
