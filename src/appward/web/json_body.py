"""Moved to web/forms.py (the one body reader). Kept only so that web/registration.py and
web/admin_api.py, which other branches edit, import until the merge switches them to
``appward.web.forms.parse_json``; then this module goes."""

from appward.web.forms import MAX_JSON_DEPTH as MAX_DEPTH
from appward.web.forms import parse_json as parse_json

__all__ = ["MAX_DEPTH", "parse_json"]
