"""An app's co-owners: add by e-mail as owner or viewer, change, remove (never the last owner)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
