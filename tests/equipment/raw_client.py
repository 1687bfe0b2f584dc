"""A client that asks a server for what it did not advertise, built on asyncua without our driver.

asyncua's ``Client.connect()`` checks the server's endpoint list and refuses, on the client
side, a policy or mode the server does not offer; an attacker's client does not. This one
opens the secure channel it is told to (SecurityPolicy None, or Basic256Sha256 with any
certificate and mode), then sends CreateSession and ActivateSession itself: no endpoint
check, no client certificate in CreateSession unless asked, a username token in plain text.
"""

from __future__ import annotations

from pathlib import Path

from asyncua import Client, Node, ua
from asyncua.crypto import security_policies

NAMESPACE = "urn:electrode-mes:packml"


async def raw_session(
    endpoint: str,
    *,
    user: str | None = None,
    password: str | None = None,
    mode: str = "None",
    certificate: Path | None = None,
    private_key: Path | None = None,
    server_certificate: Path | None = None,
    send_certificate: bool = False,
) -> Client:
    """An activated session on ``endpoint`` over the channel given (``mode`` None: SecurityPolicy
    None); raises whatever the server answers. ``send_certificate``: put the client certificate
    in CreateSession (where asyncua's server validates it) as well as in the channel."""
    client = Client(endpoint, timeout=3)
    client.application_uri = "urn:electrode-mes:client"
    if mode != "None":
        assert certificate and private_key and server_certificate  # noqa: S101
        await client.set_security(
            security_policies.SecurityPolicyBasic256Sha256,
            str(certificate),
            str(private_key),
            server_certificate=str(server_certificate),  # no endpoint discovery, no endpoint check
            mode=getattr(ua.MessageSecurityMode, mode),
        )
    await client.connect_socket()
    try:
        await client.send_hello()
        await client.open_secure_channel()
        created = await client.uaclient.create_session(_create_parameters(client, endpoint, send_certificate))
        await client.uaclient.activate_session(_activate_parameters(client, created, user, password))
    except BaseException:
        client.disconnect_socket()
        raise
    return client


def _create_parameters(client: Client, endpoint: str, send_certificate: bool) -> ua.CreateSessionParameters:
    description = ua.ApplicationDescription()
    description.ApplicationUri = client.application_uri
    description.ApplicationType = ua.ApplicationType.Client
    params = ua.CreateSessionParameters()
    params.ClientDescription = description
    params.ClientNonce = b"n" * 32
    params.ClientCertificate = client.security_policy.host_certificate if send_certificate else None
    params.EndpointUrl = endpoint
    params.SessionName = "raw"
    params.RequestedSessionTimeout = 60_000
    return params


def _activate_parameters(
    client: Client, created: ua.CreateSessionResult, user: str | None, password: str | None
) -> ua.ActivateSessionParameters:
    params = ua.ActivateSessionParameters()
    # The channel's key proves itself over the server's certificate and nonce (empty on None).
    challenge = (client.security_policy.peer_certificate or b"") + (created.ServerNonce or b"")
    params.ClientSignature.Algorithm = security_policies.SecurityPolicyBasic256Sha256.AsymmetricSignatureURI
    params.ClientSignature.Signature = client.security_policy.asymmetric_cryptography.signature(challenge)
    token: ua.UserNameIdentityToken | ua.AnonymousIdentityToken
    if user is None:
        token = ua.AnonymousIdentityToken()
        token.PolicyId = "anonymous"
    else:
        token = ua.UserNameIdentityToken()
        token.PolicyId = "username"
        token.UserName = user
        token.Password = (password or "").encode()  # in clear: no EncryptionAlgorithm
        token.EncryptionAlgorithm = None
    params.UserIdentityToken = token
    return params


async def write_power_and_reset(client: Client, power_w: float) -> None:
    """What an intruder on a sputter would do: set ``Setpoints.Power`` and call ``Reset``."""
    ns = await client.get_namespace_index(NAMESPACE)
    power: Node = client.get_node(ua.NodeId("Sputter.Setpoints.Power", ns))
    await power.write_value(ua.DataValue(ua.Variant(power_w, ua.VariantType.Float)))
    await client.get_node(ua.NodeId("Sputter", ns)).call_method(f"{ns}:Reset")
