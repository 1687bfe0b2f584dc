"""OPC UA security of the simulators and of the MES's client, from a line file's settings.

Basic256Sha256 with Sign or SignAndEncrypt; certificates are validated against
the trust directory (a server without a validator would accept any client).
Usernames and passwords go through a server ``UserManager``.
"""

from __future__ import annotations

import hmac
from typing import Any

from asyncua import Server, ua
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions

from mes.equipment.errors import SecurityRefused
from mes.equipment.profile import Security
from mes.equipment.security import SERVER_URI, trust_store


class PasswordUserManager:
    """Exactly one user, with its password; anonymous sessions are refused."""

    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user, password

    def get_user(
        self, iserver: Any, username: str | None = None, password: str | None = None, certificate: Any = None
    ) -> User | None:
        if username == self.user and password is not None and hmac.compare_digest(password, self.password):
            return User(role=UserRole.User, name=username)
        return None


async def configure_server_security(
    server: Server, unit: str, security: Security, password: str | None
) -> None:
    if security.policy == "None":
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    else:
        if security.server_certificate is None or security.server_private_key is None:
            raise SecurityRefused(
                f"{unit}: a secured simulator needs server_certificate and server_private_key"
            )
        policy = {
            "Sign": ua.SecurityPolicyType.Basic256Sha256_Sign,
            "SignAndEncrypt": ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
        }[security.mode]
        server.set_security_policy([policy])
        await server.set_application_uri(SERVER_URI.format(unit=unit))
        await server.load_certificate(str(security.server_certificate))
        await server.load_private_key(str(security.server_private_key))
        assert security.trust_dir is not None  # noqa: S101 - the Security model requires it
        options = CertificateValidatorOptions.TRUSTED_VALIDATION | CertificateValidatorOptions.PEER_CLIENT
        server.set_certificate_validator(CertificateValidator(options, await trust_store(security.trust_dir)))
    if security.user is not None:
        if password is None:
            raise SecurityRefused(
                f"{unit}: user {security.user} configured but ${security.password_env} is not set"
            )
        server.iserver.user_manager = PasswordUserManager(security.user, password)
