"""OPC UA security of the simulators, from a line file's settings.

Basic256Sha256 with Sign or SignAndEncrypt. A secured unit gives a session only
over a channel of its policy and mode, to a client whose certificate is in its
trust list, with its user and password when it has a user:

- asyncua opens a secure channel only for an advertised policy and mode — or for
  SecurityPolicy None, which it keeps for discovery (GetEndpoints, as OPC UA wants
  of every server) and would then let create and activate a session on.
- :class:`SessionGuard`, the server's user manager, is asked at every
  ActivateSession (a new session, or an old one moved to a new channel) with the
  channel's client certificate: none (a None channel) → BadSecurityPolicyRejected;
  one that is not in the trust list, expired or revoked → BadCertificateUntrusted.
  X509 identity tokens are switched off so that the certificate it is given is
  always the channel's, never one a token brings.
- asyncua's certificate validator still checks the certificate a client puts in
  CreateSession (URI, key usage), when it puts one there; the guard words its refusals.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any, NoReturn

from asyncua import Server, ua
from asyncua.common.utils import ServiceError
from asyncua.crypto import uacrypto
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.crypto.truststore import TrustStore
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions
from cryptography import x509

from mes.equipment import status
from mes.equipment.errors import SecurityRefused
from mes.equipment.profile import Security
from mes.equipment.refusal_logs import quiet_refusals
from mes.equipment.security import SERVER_URI, describe, trust_problem, trust_store

log = logging.getLogger(__name__)


class PasswordUserManager:
    """Exactly one user, with its password; anonymous sessions are refused (units without security)."""

    def __init__(self, unit: str, user: str, password: str) -> None:
        self.unit, self.user, self.password = unit, user, password

    def get_user(
        self, iserver: Any, username: str | None = None, password: str | None = None, certificate: Any = None
    ) -> User | None:
        return _user(self.unit, self.user, self.password, username, password)


def _user(unit: str, user: str, expected: str, username: str | None, password: str | None) -> User | None:
    """The unit's user when ``username`` and ``password`` are its own; None (logged) otherwise."""
    if username != user:
        given = "no user name" if username is None else f"user {username!r}"
        log.warning("%s: refused a session: %s (the unit's user is %r)", unit, given, user)
        return None
    if password is None or not hmac.compare_digest(password, expected):
        log.warning("%s: refused a session: wrong password for user %r", unit, username)
        return None
    return User(role=UserRole.User, name=username)


class SessionGuard:
    """Who gets a session on a secured unit: a trusted client certificate on the channel, then the
    unit's user and password (or anyone, for a unit without a user). Refusals are logged in one line."""

    def __init__(self, unit: str, security: Security, store: TrustStore, password: str | None) -> None:
        self.unit, self.security, self.store = unit, security, store
        self.user, self.password = security.user, password
        self.activations = 0  # ActivateSession requests seen, accepted or not
        options = CertificateValidatorOptions.TRUSTED_VALIDATION | CertificateValidatorOptions.PEER_CLIENT
        self._validator = CertificateValidator(options, store)

    async def validate_certificate(self, cert: x509.Certificate, client: ua.ApplicationDescription) -> None:
        """asyncua's check of the certificate a client puts in CreateSession, refusals logged."""
        try:
            await self._validator(cert, client)
        except ServiceError as exc:
            der = bytes(uacrypto.der_from_x509(cert))
            why = (
                trust_problem(der, self.store)
                or f"{status.status_name(exc.code)} for {client.ApplicationUri}"
            )
            log.warning("%s: refused a session: client certificate %s: %s", self.unit, describe(der), why)
            raise

    def get_user(
        self, iserver: Any, username: str | None = None, password: str | None = None, certificate: Any = None
    ) -> User | None:
        self.activations += 1
        if not certificate:  # asyncua hands a None channel's missing certificate as b""
            offered = f"{self.security.policy} {self.security.mode}"
            _refuse(self.unit, f"a channel with SecurityPolicy None; it offers {offered} only",
                    ua.StatusCodes.BadSecurityPolicyRejected)  # fmt: skip
        der = bytes(certificate)
        problem = trust_problem(der, self.store)
        if problem is not None:
            _refuse(self.unit, f"client certificate {describe(der)}: {problem}",
                    ua.StatusCodes.BadCertificateUntrusted)  # fmt: skip
        if self.user is None:
            return User(role=UserRole.User)
        return _user(self.unit, self.user, self.password or "", username, password)


def _refuse(unit: str, why: str, code: int) -> NoReturn:
    log.warning("%s: refused a session: %s", unit, why)
    raise ServiceError(code)


async def configure_server_security(
    server: Server, unit: str, security: Security, password: str | None
) -> None:
    quiet_refusals()
    if security.user is not None and password is None:
        raise SecurityRefused(
            f"{unit}: user {security.user} configured but ${security.password_env} is not set"
        )
    if security.policy == "None":
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        if security.user is not None and password is not None:
            server.iserver.set_user_manager(PasswordUserManager(unit, security.user, password))
        return
    if security.server_certificate is None or security.server_private_key is None:
        raise SecurityRefused(f"{unit}: a secured simulator needs server_certificate and server_private_key")
    policy = {
        "Sign": ua.SecurityPolicyType.Basic256Sha256_Sign,
        "SignAndEncrypt": ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
    }[security.mode]
    server.set_security_policy([policy])
    server.set_identity_tokens([ua.AnonymousIdentityToken, ua.UserNameIdentityToken])  # no X509 tokens
    await server.set_application_uri(SERVER_URI.format(unit=unit))
    await server.load_certificate(str(security.server_certificate))
    await server.load_private_key(str(security.server_private_key))
    assert security.trust_dir is not None  # noqa: S101 - the Security model requires it
    guard = SessionGuard(unit, security, await trust_store(security.trust_dir), password)
    server.set_certificate_validator(guard.validate_certificate)
    server.iserver.set_user_manager(guard)
