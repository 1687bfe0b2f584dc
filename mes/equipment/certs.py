"""``mes certs init``: a CA-free PKI folder for the line's OPC UA links.

Every application (the MES client and each unit) gets an RSA-2048 key and a
self-signed certificate whose subject alternative names carry its application
URI, ``localhost`` and ``127.0.0.1``; ``trusted/`` holds a copy of every
certificate, and is the trust list both sides validate against. Replace a
unit's own certificate by the vendor's when a real machine is connected.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from asyncua.crypto.cert_gen import (
    dump_private_key_as_pem,
    generate_private_key,
    generate_self_signed_app_certificate,
)
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from mes.equipment.security import CLIENT_URI, SERVER_URI


def _make(common_name: str, uri: str, usage: list[x509.ObjectIdentifier], days: int) -> tuple[bytes, bytes]:
    key = generate_private_key()
    names = [
        x509.UniformResourceIdentifier(uri),
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    cert = generate_self_signed_app_certificate(
        key, common_name, {"organizationName": "Electrode MES"}, names, usage, days=days
    )
    return cert.public_bytes(serialization.Encoding.DER), dump_private_key_as_pem(key)


def init_pki(directory: Path, units: list[str], *, days: int = 825, overwrite: bool = False) -> list[Path]:
    """Create ``own/`` (certificate + key per application) and ``trusted/``; returns the files written."""
    own, trusted = directory / "own", directory / "trusted"
    own.mkdir(parents=True, exist_ok=True)
    trusted.mkdir(parents=True, exist_ok=True)
    apps = [("mes-client", CLIENT_URI, [ExtendedKeyUsageOID.CLIENT_AUTH])]
    apps += [(u, SERVER_URI.format(unit=u), [ExtendedKeyUsageOID.SERVER_AUTH]) for u in units]
    written: list[Path] = []
    for name, uri, usage in apps:
        cert_path, key_path = own / f"{name}.der", own / f"{name}.pem"
        if cert_path.exists() and not overwrite:
            continue
        cert, key = _make(name, uri, usage, days)
        key_path.write_bytes(key)
        key_path.chmod(0o600)
        cert_path.write_bytes(cert)
        (trusted / f"{name}.der").write_bytes(cert)
        written += [cert_path, key_path, trusted / f"{name}.der"]
    return written
