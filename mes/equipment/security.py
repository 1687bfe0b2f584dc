"""OPC UA security vocabulary shared by the MES's client and the units it talks to.

The application URIs our certificates carry (``mes certs`` writes them; a server
checks the client's against its certificate), the trust store that validates a
peer's certificate, and how a certificate is named in a refusal (subject,
application URI, SHA-256 thumbprint). Kept here, not in the simulator, so that
production code never imports the simulator.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from pathlib import Path

from asyncua.crypto import uacrypto
from asyncua.crypto.truststore import TrustStore
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from mes.equipment.errors import SecurityRefused
from mes.equipment.line import ServerPin

SERVER_URI = "urn:electrode-mes:sim:{unit}"
CLIENT_URI = "urn:electrode-mes:client"


async def trust_store(trust_dir: Path) -> TrustStore:
    """Load the certificates in ``trust_dir``; raises :class:`SecurityRefused` if it is missing
    or holds no certificate (a trust list that trusts nobody refuses every peer)."""
    if not await asyncio.to_thread(trust_dir.is_dir):
        raise SecurityRefused(f"trust directory {trust_dir} does not exist (create it with `mes certs init`)")
    store = TrustStore([trust_dir], [])
    try:
        await store.load()
    except ValueError as exc:  # cryptography: "can't create an empty store"
        raise SecurityRefused(
            f"trust directory {trust_dir} holds no certificate (.der or .pem); put the peers' certificates "
            "there (`mes certs init` writes them to trusted/)"
        ) from exc
    return store


def thumbprint(der: bytes) -> str:
    """SHA-256 of a DER certificate as ``AB:CD:…`` — what ``openssl x509 -fingerprint -sha256`` prints."""
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def certificate_der(data: bytes) -> bytes:
    """The DER bytes of a certificate given as DER or PEM (the first one of a chain)."""
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
    return bytes(uacrypto.der_from_x509(uacrypto.x509_from_der(data)))


async def pinned_certificate(pin: ServerPin) -> bytes | None:
    """The DER bytes of the certificate a pin names by its file (None for a thumbprint pin);
    :class:`SecurityRefused` when the file cannot be read or holds no certificate."""
    if pin.certificate is None:
        return None
    try:
        return certificate_der(await asyncio.to_thread(pin.certificate.read_bytes))
    except OSError as exc:
        raise SecurityRefused(f"server_pin: cannot read {pin.certificate}: {exc.strerror}") from exc
    except ValueError as exc:
        raise SecurityRefused(f"server_pin: {pin.certificate} holds no certificate (DER or PEM)") from exc


def pin_problem(presented: bytes, pin: ServerPin, pinned: bytes | None) -> str | None:
    """Why ``presented`` is not the certificate ``pin`` names (``pinned``: its file's DER
    bytes, for a certificate pin), or None when it is."""
    if pinned is not None:
        if presented == pinned:
            return None
        return f"the line file pins {describe(pinned)} (server_pin: certificate {pin.certificate})"
    if thumbprint(presented) == pin.sha256:
        return None
    return f"the line file pins SHA-256 {pin.sha256} (server_pin: sha256)"


def describe(der: bytes) -> str:
    """``CN=sputter-2, URI urn:…, SHA-256 AB:CD:…``: a certificate as a refusal names it."""
    try:
        cert = uacrypto.x509_from_der(der)
    except ValueError:
        return f"an unreadable certificate (SHA-256 {thumbprint(der)})"
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    subject = f"CN={names[0].value}" if names else cert.subject.rfc4514_string() or "no subject"
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        uris = []
    return f"{subject}, URI {uris[0] if uris else '(none)'}, SHA-256 {thumbprint(der)}"


def trust_problem(der: bytes, store: TrustStore) -> str | None:
    """Why a peer's certificate is not accepted (expired, not yet valid, not in the trust list,
    revoked), or None when it is. No exception: the caller words the refusal."""
    try:
        cert = uacrypto.x509_from_der(der)
    except ValueError:
        return "it cannot be read"
    now = datetime.now(UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        return f"it is valid {cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d} only"
    if not store.is_trusted(cert):
        return f"it is not in the trust list {', '.join(str(p) for p in store.trust_locations)}"
    if store.is_revoked(cert):
        return "it is revoked"
    return None
