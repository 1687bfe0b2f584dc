"""``mes web``: the HTTP API (and, beside it, the operator pages) under uvicorn."""

from __future__ import annotations

import socket
from pathlib import Path

import typer

from mes.cli.common import database, out
from mes.cli.errors import WebRefused
from mes.config import get_settings, production_problems
from mes.errors import ConfigError


def check_port(host: str, port: int) -> None:
    """Refuse before anything starts when the address cannot be bound (uvicorn would log a traceback)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise WebRefused(f"--host {host!r}: not an address of this machine ({exc.strerror})") from exc
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                raise WebRefused(
                    f"cannot listen on {host}:{port}: {exc.strerror}; stop what uses it or give --port"
                ) from exc


def web(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    tls_cert: Path | None = typer.Option(
        None, "--tls-cert", exists=True, dir_okay=False, help="PEM certificate."
    ),
    tls_key: Path | None = typer.Option(
        None, "--tls-key", exists=True, dir_okay=False, help="PEM private key."
    ),
    behind_proxy: bool = typer.Option(
        False,
        "--behind-proxy",
        help="TLS ends at a reverse proxy on this host (deploy/README.md); trust its X-Forwarded-* headers.",
    ),
) -> None:
    """Serve the operator pages at / and the API at /api/v1 (docs at /api/v1/docs) until Ctrl-C."""
    import uvicorn

    settings = get_settings()
    problems = production_problems(settings)
    if settings.is_production and not (tls_cert and tls_key) and not behind_proxy:
        problems.append("production serves over TLS: give --tls-cert and --tls-key, or --behind-proxy")
    if problems:
        raise ConfigError("refused for production: " + "; ".join(problems))
    if (tls_cert is None) != (tls_key is None):
        raise WebRefused("give --tls-cert and --tls-key together")
    with database():  # exists and is at the current schema, before the port is opened
        pass
    check_port(host, port)
    scheme = "https" if tls_cert else "http"
    out.print(
        f"mes web: operator pages at {scheme}://{host}:{port}/, API at /api/v1 "
        "(docs at /api/v1/docs); Ctrl-C stops it"
    )
    uvicorn.run(
        "mes.hmi.app:create_web_app",
        factory=True,
        host=host,
        port=port,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        proxy_headers=behind_proxy,
        forwarded_allow_ips="127.0.0.1" if behind_proxy else None,
        log_level="warning",
        access_log=False,
        server_header=False,
        # Event streams never end by themselves: at Ctrl-C they get this long, then are closed.
        timeout_graceful_shutdown=3,
    )
