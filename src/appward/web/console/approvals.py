"""The queue of portal clients waiting for review, with approve and reject."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
