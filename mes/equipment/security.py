"""OPC UA security vocabulary shared by the MES's client and the units it talks to.

The application URIs our certificates carry (``mes certs`` writes them; a server
checks the client's against its certificate) and the trust store that validates a
peer's certificate. Kept here, not in the simulator, so that production code never
imports the simulator.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from asyncua.crypto.truststore import TrustStore

from mes.equipment.errors import SecurityRefused

SERVER_URI = "urn:electrode-mes:sim:{unit}"
CLIENT_URI = "urn:electrode-mes:client"


async def trust_store(trust_dir: Path) -> TrustStore:
    """Load the certificates in ``trust_dir``; raises :class:`SecurityRefused` if it is missing."""
    if not await asyncio.to_thread(trust_dir.is_dir):
        raise SecurityRefused(f"trust directory {trust_dir} does not exist (create it with `mes certs init`)")
    store = TrustStore([trust_dir], [])
    await store.load()
    return store
