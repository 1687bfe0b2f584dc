"""The HTTP API (``/api/v1``) that automation and the operator HMI both call.

::

    client ──HTTP──▶ uvicorn ──▶ FastAPI app (app.py)
                                   ├── deps.py      request-owned transaction, principal, roles, CSRF
                                   ├── errors.py    every layer's error → problem+json (one mapping)
                                   ├── pagination   cursor pages + Link header
                                   └── routes/      one module per resource → domain services → read models
                                                       └── workers.tasks (after commit) for dispatch

Routes are thin: they parse, authorise, call one service and return its read model. Nothing here
commits but ``deps.get_db``; nothing here talks to equipment.
"""
