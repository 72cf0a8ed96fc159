"""Accounts: roles, disable and enable, ending sessions, resetting the second factor,
password resets, delete.
"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
