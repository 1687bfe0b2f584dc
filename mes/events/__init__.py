"""Events: what changed on the line, in the order it was committed, for whoever follows it.

State changes are written by the database itself: triggers on the tracked tables insert one
``event_log`` row per change in the changing transaction (migration 0010), so every writer — a
worker, the collector, the CLI, the API, a compare-and-set in Core SQL, a hand-made UPDATE — leaves
its event, and a rolled-back change leaves none. Live process values are not events: the collector
publishes them on Redis and nothing stores them but the scans themselves (decision 018)::

    work_order ─┐                                 ┌─ NOTIFY mes_events (PostgreSQL)
    lot ────────┤ AFTER INSERT/UPDATE             │   or a poll every MES_EVENTS_POLL_S (SQLite)
    step_run ───┼──── triggers ────► event_log ───┤
    alarm ──────┤  (same transaction)   id = commit order       ▼
    equipment_unit                                      mes web: one reader per process
                                                           │  (mes.api.event_feed)
    collector ── PUBLISH mes:live:UNIT ──► Redis ──────────┤  one PSUBSCRIBE per process
                 (no Redis: the newest scans are read)     ▼
                                                     GET /api/v1/events (SSE), each client
                                                     replayed from the log by Last-Event-ID

``log`` reads the log (pages, the replay plan, pruning); ``live`` is the live values' message.
"""
