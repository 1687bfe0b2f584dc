"""The Celery app, configured from ``Settings``.

Queues: ``dispatch`` (orders, reconciliation) and one ``unit.<name>`` queue per
equipment unit, each served by a worker with concurrency 1 (the unit lease is the
second line of defence). Every reliability setting below is chosen on purpose.

A worker refuses to start on settings production refuses, and on a line file it refuses, with
one line on stderr naming the setting and exit code 1 (:func:`refuse`), never a traceback: Celery
imports this module inside an ``except Exception`` that prints the whole traceback of any error,
and logs and ignores an error raised by a signal handler, but lets ``SystemExit`` through.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

from celery import Celery
from celery.signals import celeryd_init, worker_process_init
from kombu.transport import TRANSPORT_ALIASES

from mes.config import Settings, get_settings
from mes.errors import MesError

# The longest task: one advance_step move waits for the unit ≤ 5 s, a completing
# step reads and stores its scans; the hard limit below caps it at 180 s.
TASK_SOFT_LIMIT_S = 150
TASK_HARD_LIMIT_S = 180
# Redis hands an unacknowledged message to another worker once this has passed —
# even while the first still runs it — so it stays far above the longest task.
# Messages of a worker killed outright are recovered sooner by the reconciler
# (stale steps get a new chain), not by this timeout.
VISIBILITY_TIMEOUT_S = 3_600
# The embedded broker's own transport (see workers/fs_broker.py): every process that
# imports the app, workers and producers alike, then uses it for filesystem://.
TRANSPORT_ALIASES["filesystem"] = "workers.fs_broker:Transport"
RECONCILE_EVERY_S = 5.0
EXIT_REFUSED = 1  # as `mes` exits on a refused setting


def refuse(exc: MesError) -> NoReturn:
    """End the process with one line naming what was refused (see the module's docstring)."""
    sys.stderr.write(f"mes worker: error: {exc}\n")
    sys.stderr.flush()
    raise SystemExit(EXIT_REFUSED)


def _checked_settings() -> Settings:
    try:
        return get_settings()
    except MesError as exc:
        refuse(exc)


def broker_url(url: str) -> str:
    """``url`` as kombu expects it. The embedded ``filesystem://`` names no host, and kombu warns
    "No hostname was supplied" on every connection; its transport uses the folder, not the host, so
    the URL names ``localhost`` as kombu would (``filesystem://localhost/``)."""
    parts = urlsplit(url)
    if parts.scheme != "filesystem" or parts.hostname:
        return url
    return urlunsplit(parts._replace(netloc="localhost", path=parts.path or "/"))


def broker_options(url: str, folder: Path | None = None) -> dict[str, Any]:
    if url.startswith("filesystem://"):
        base = folder or Path(".mes-broker")
        for sub in ("queue", "processed", "control"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        # Same folder in and out: every process reads and writes one queue folder.
        return {
            "data_folder_in": str(base / "queue"),
            "data_folder_out": str(base / "queue"),
            "processed_folder": str(base / "processed"),
            "store_processed": False,
            # exchange bindings, which kombu would otherwise write to ./control
            "control_folder": str(base / "control"),
            "polling_interval": 0.05,
        }
    return {
        "visibility_timeout": VISIBILITY_TIMEOUT_S,
        # sweep for messages whose visibility expired every 5 s, not every 100 s
        "unacked_restore_interval": 5,
        "unacked_restore_throttle": 1,
        "socket_timeout": 10,
        "socket_connect_timeout": 5,
        "health_check_interval": 10,
    }


def make_app(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    # Step results live in the database; a result backend serves only health checks
    # (mes.ping), and only where a Redis is there to hold them.
    backend = settings.result_backend if settings.broker_url.startswith("redis") else None
    app = Celery("mes", broker=broker_url(settings.broker_url), backend=backend, include=["workers.tasks"])
    app.conf.update(
        # Acknowledge after the task ran: a task whose worker died is delivered again.
        task_acks_late=True,
        # ...and when a pool child is killed (OOM, kill -9) its task is re-queued, not lost.
        task_reject_on_worker_lost=True,
        # Reserve one task per process: nothing waits in the memory of a worker that may die.
        worker_prefetch_multiplier=1,
        broker_transport_options=broker_options(settings.broker_url, settings.broker_folder),
        # A broker blip must not kill a step that is driving a machine (FACTS: it was never rerun).
        worker_cancel_long_running_tasks_on_connection_loss=False,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        task_soft_time_limit=TASK_SOFT_LIMIT_S,
        task_time_limit=TASK_HARD_LIMIT_S,
        # Results live in the database (step runs), not in a result backend.
        task_ignore_result=True,
        task_default_queue="dispatch",
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        beat_schedule={
            "reconcile": {
                "task": "mes.reconcile",
                "schedule": RECONCILE_EVERY_S,
                "options": {"queue": "dispatch"},
            },
        },
    )
    return app


app = make_app(_checked_settings())


@celeryd_init.connect
def _check_line(**_: Any) -> None:
    # In production the line is checked before the worker takes any task, not at its first step;
    # `celeryd_init` is the first thing `celery worker` does, before it prints anything.
    from mes.equipment.line import load_line_for

    settings = get_settings()
    if settings.is_production:
        try:
            load_line_for(settings)
        except MesError as exc:
            refuse(exc)


@worker_process_init.connect
def _after_fork(**_: Any) -> None:
    # Engines, OPC UA connections and the equipment loop are made per process,
    # after the fork; nothing created in the parent is used here.
    from workers.context import reset_context

    reset_context()
