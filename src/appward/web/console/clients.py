"""The clients list (search, filters, sort, cursor pages, bulk enable and disable) and the
create-client form.
"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
