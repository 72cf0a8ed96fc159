"""A client's Policy tab (with the server-wide bounds) and its Token preview tab."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
