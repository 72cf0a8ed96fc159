"""A log stream for tests that read what was logged: the handler gathers INFO lines and
writes them within a fraction of a second (appward.logs.BufferedStreamHandler), so
reading the stream first writes out what is pending."""

from __future__ import annotations

import io
import logging

from appward.logs import APP_LOGGER


class CapturedLog(io.StringIO):
    def getvalue(self) -> str:
        for handler in logging.getLogger(APP_LOGGER).handlers:
            handler.flush()
        return super().getvalue()
