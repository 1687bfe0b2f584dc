"""The operator pages (HMI): server-rendered pages beside the API, in the same app.

ISA-101 high-performance style (grey, colour only for what is abnormal), levels line → unit →
step/lot → diagnostics. Pages read through the same services and read models as ``/api/v1``; every
command a page sends goes to ``/api/v1`` itself (same roles, same checks, same audit), from the
browser with the session's CSRF token. Live parts follow ``GET /api/v1/events`` (htmx's SSE
extension). Every asset is served from ``mes/hmi/static`` (the plant LAN has no internet).

    browser ──GET pages/fragments──▶ mes.hmi.routes ──▶ services (read models)
       │
       ├──POST/GET JSON (fetch, X-CSRF-Token)──▶ /api/v1 routes ──▶ services
       └──EventSource /api/v1/events ─────────▶ event hub
"""
