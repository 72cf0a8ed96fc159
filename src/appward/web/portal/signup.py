"""Developer sign-up (open, invite or closed), e-mail verification, and invitations."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
