"""Initial access tokens for dynamic client registration."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
