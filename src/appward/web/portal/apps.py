"""A developer's apps: the list, create, edit and delete."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
