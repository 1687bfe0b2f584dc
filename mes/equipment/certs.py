"""``mes certs init``: a CA-free PKI folder for the line's OPC UA links.

Every application (the MES client and each unit) gets an RSA-2048 key and a
self-signed certificate whose subject alternative names carry its application
URI, ``localhost`` and ``127.0.0.1``::

    own/        mes-client.der + .pem    the MES's own certificate and key: stays on the MES host
    trusted/    every certificate        the trust list both sides validate against; the MES
                                         pins each unit to its file here (server_pin)
    units/      UNIT.der + UNIT.pem      each unit's certificate and key: copy them to that
                                         machine (or the host running ``mes sim``), then
                                         delete the folder from the MES host

A unit's private key never has to stay on the MES host: once a machine has its own
(its vendor's certificate, put in ``trusted/`` and pinned), nothing here stands for it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
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

CLIENT = "mes-client"


@dataclass
class Pki:
    """What ``init_pki`` did: files written, and units whose pair an earlier layout kept in ``own/``."""

    directory: Path
    written: list[Path] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)


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


def init_pki(directory: Path, units: list[str], *, days: int = 825, overwrite: bool = False) -> Pki:
    """Create ``own/`` (the MES client), ``units/`` (one pair per unit) and ``trusted/``.

    An application whose certificate exists is kept unless ``overwrite``. A unit pair
    that an earlier version wrote to ``own/`` is moved to ``units/`` (and reported), so
    that the trust list and the keys stay one set.
    """
    own, trusted, unit_dir = directory / "own", directory / "trusted", directory / "units"
    for folder in (own, trusted, unit_dir):
        folder.mkdir(parents=True, exist_ok=True)
    pki = Pki(directory)
    apps = [(CLIENT, CLIENT_URI, [ExtendedKeyUsageOID.CLIENT_AUTH], own)]
    apps += [(u, SERVER_URI.format(unit=u), [ExtendedKeyUsageOID.SERVER_AUTH], unit_dir) for u in units]
    for name, uri, usage, folder in apps:
        cert_path, key_path = folder / f"{name}.der", folder / f"{name}.pem"
        if folder == unit_dir and not overwrite and _move_earlier_pair(own, unit_dir, name):
            pki.moved.append(name)
        if cert_path.exists() and not overwrite:
            continue
        cert, key = _make(name, uri, usage, days)
        key_path.write_bytes(key)
        key_path.chmod(0o600)
        cert_path.write_bytes(cert)
        (trusted / f"{name}.der").write_bytes(cert)
        pki.written += [cert_path, key_path, trusted / f"{name}.der"]
    return pki


def _move_earlier_pair(own: Path, unit_dir: Path, name: str) -> bool:
    old_cert, old_key = own / f"{name}.der", own / f"{name}.pem"
    if (unit_dir / f"{name}.der").exists() or not (old_cert.exists() and old_key.exists()):
        return False
    old_cert.rename(unit_dir / old_cert.name)
    old_key.rename(unit_dir / old_key.name)
    return True
