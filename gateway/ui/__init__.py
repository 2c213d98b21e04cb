"""The live page: `GET /ui`, what the gateway is doing now, from memory, with nothing fetched from elsewhere.

    recorder.py    the Observer: each finished request into a ring of the last ones and the rolling figures
    aggregates.py  the rolling figures: per bucket and series (all, route, target), counters and histograms
    views.py       what the JSON says: table rows, attempt timelines, the redacted config
    endpoints.py   the page's files and its JSON endpoints under /admin/ui/ (admin key)
    static/        index.html, app.js, style.css and the vendored uPlot (static/VENDORED.md)
"""

from __future__ import annotations

from gateway.ui.endpoints import LivePage

__all__ = ["LivePage"]
