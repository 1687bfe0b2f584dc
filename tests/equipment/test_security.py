"""Basic256Sha256 links with certificates, a user and pins, on simulator and driver, and what a client
that skips asyncua's client-side checks gets from a secured unit."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from asyncua import ua

from mes.equipment.certs import init_pki
from mes.equipment.driver import UnitDriver
from mes.equipment.errors import SecurityRefused
from mes.equipment.line import ServerPin
from mes.equipment.profile import PackMLState, Security, UnitConfig
from mes.equipment.security import CLIENT_URI, thumbprint
from mes.equipment.status import status_name
from mes.sim.unit import SimUnit
from tests.equipment.conftest import PROFILES, SimFactory, profile
from tests.equipment.raw_client import raw_session, write_power_and_reset
from tests.services import free_port

UNIT = "sputter-t"
OTHER = "sputter-u"  # another unit of the line: its certificate is on the same trust list
PASSWORD = "s3cret-line"
INTRUDER_POWER_W = 4321.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    assert len(init_pki(directory, [UNIT, OTHER]).written) == 9
    return directory


def _security(pki: Path, mode: str = "SignAndEncrypt", *, client: str = "mes-client", trust: Path | None = None,
              user: bool = True, server: str = UNIT, pin: ServerPin | None = None) -> Security:  # fmt: skip
    return Security(
        policy="Basic256Sha256", mode=mode,
        certificate=pki / "own" / f"{client}.der", private_key=pki / "own" / f"{client}.pem",
        trust_dir=trust or pki / "trusted",
        server_certificate=pki / "units" / f"{server}.der", server_private_key=pki / "units" / f"{server}.pem",
        server_pin=pin, user="mes" if user else None, password_env="MES_TEST_OPCUA_PASSWORD" if user else None,
    )  # fmt: skip


@pytest.mark.parametrize("mode", ["Sign", "SignAndEncrypt"])
async def test_secured_link_with_the_right_certificate_and_password(sim_factory: SimFactory, pki: Path,
                                                                    mode: str) -> None:  # fmt: skip
    security = _security(pki, mode)
    async with sim_factory("packml-sputter", security=security, password="s3cret-line",
                           client_password="s3cret-line") as (_, driver):  # fmt: skip
        assert await driver.read_state() == PackMLState.STOPPED
        assert driver.client is not None
        assert driver.client.security_policy.Mode.name == mode


async def test_wrong_password_is_refused(sim_factory: SimFactory, pki: Path) -> None:
    async with sim_factory("packml-sputter", security=_security(pki), password="s3cret-line",
                           client_password="guess", connect=False) as (_, driver):  # fmt: skip
        with pytest.raises(SecurityRefused, match="BadUserAccessDenied"):
            await driver.connect()


async def test_untrusted_client_certificate_is_refused(
    sim_factory: SimFactory, pki: Path, tmp_path: Path
) -> None:
    stranger = tmp_path / "stranger"
    init_pki(stranger, [UNIT])  # a certificate nobody put on the unit's trust list
    server_side = _security(pki, user=False)
    async with sim_factory("packml-sputter", security=server_side, connect=False) as (_, driver):
        driver.unit = driver.unit.model_copy(update={"security": _security(stranger, user=False)})
        # the stranger trusts the unit, the unit does not trust the stranger
        shutil.copy(pki / "trusted" / f"{UNIT}.der", stranger / "trusted" / "real-unit.der")
        with pytest.raises(SecurityRefused):
            await driver.connect()


async def test_untrusted_server_certificate_is_refused(
    sim_factory: SimFactory, pki: Path, tmp_path: Path
) -> None:
    only_client = tmp_path / "trust-client-only"
    only_client.mkdir()
    shutil.copy(pki / "trusted" / "mes-client.der", only_client)
    async with sim_factory("packml-sputter", security=_security(pki, user=False), connect=False) as (
        _,
        driver,
    ):
        driver.unit = driver.unit.model_copy(
            update={"security": _security(pki, user=False, trust=only_client)}
        )
        # Expected: refused before any session, naming the certificate and the trust list.
        with pytest.raises(
            SecurityRefused,
            match=f"presented the server certificate CN={UNIT}, .*; it is not in the trust list",
        ):
            await driver.connect()


async def test_anonymous_session_is_refused_when_a_user_is_configured(
    sim_factory: SimFactory, pki: Path
) -> None:
    async with sim_factory("packml-sputter", security=_security(pki), password="s3cret-line",
                           connect=False) as (_, driver):  # fmt: skip
        driver.unit = driver.unit.model_copy(update={"security": _security(pki, user=False)})
        with pytest.raises(SecurityRefused):
            await driver.connect()


def test_production_refuses_security_none() -> None:
    from mes.config import load_settings
    from mes.equipment.line import load_line_for
    from mes.errors import ConfigError
    from tests.test_config import GOOD_PRODUCTION

    line = Path(__file__).resolve().parents[2] / "deploy" / "line.yaml"
    with pytest.raises(ConfigError, match="sputter-1, sputter-2, coater-1, winder-1"):
        load_line_for(load_settings(**GOOD_PRODUCTION, line_config=line))


def _refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The refusals logged at WARNING or above; none of them may carry a traceback."""
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []
    return [
        r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "refused" in r.getMessage()
    ]


async def _intrude(endpoint: str, **channel: object) -> None:
    """Open a session the way an intruder's client would, set the power and reset the unit."""
    client = await raw_session(endpoint, **channel)  # type: ignore[arg-type]
    try:
        await write_power_and_reset(client, INTRUDER_POWER_W)
    finally:
        client.disconnect_socket()


@pytest.mark.parametrize("user", [True, False], ids=["unit-with-user", "unit-without-user"])
async def test_a_none_channel_gets_no_session_from_a_secured_unit(
    sim_factory: SimFactory, pki: Path, user: bool, caplog: pytest.LogCaptureFixture
) -> None:
    # The unit advertises Basic256Sha256 SignAndEncrypt only. A client that asks for SecurityPolicy
    # None anyway (its password in clear, or no credentials at all) must get no session.
    # Expected: BadSecurityPolicyRejected, and Setpoints.Power keeps its value.
    # (It used to get one: asyncua's server falls back to the connection's initial None policy.)
    async with sim_factory("packml-sputter", security=_security(pki, user=user), password=PASSWORD if user else None,
                           client_password=PASSWORD, connect=False) as (_, driver):  # fmt: skip
        with pytest.raises(ua.UaStatusCodeError) as refused:
            await _intrude(driver.unit.endpoint, user="mes" if user else None, password=PASSWORD)
        assert status_name(refused.value) == "BadSecurityPolicyRejected"
        await driver.connect()
        assert (await driver.read_setpoints())["power_w"] != INTRUDER_POWER_W
    assert _refusals(caplog) == [
        f"{UNIT}: refused a session: a channel with SecurityPolicy None; it offers Basic256Sha256 SignAndEncrypt only"
    ]


@pytest.mark.parametrize("send_certificate", [False, True], ids=["channel-only", "also-in-create-session"])
async def test_a_channel_with_an_untrusted_certificate_gets_no_session(
    sim_factory: SimFactory,
    pki: Path,
    tmp_path: Path,
    send_certificate: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A stranger's certificate opens a SignAndEncrypt channel. asyncua's server validates a client
    # certificate only when CreateSession carries one; the stranger leaves it out.
    # Expected: BadCertificateUntrusted either way, and Setpoints.Power keeps its value.
    stranger = tmp_path / "stranger"
    init_pki(stranger, [UNIT])
    async with sim_factory("packml-sputter", security=_security(pki, user=False),
                           connect=False) as (_, driver):  # fmt: skip
        with pytest.raises(ua.UaStatusCodeError) as refused:
            await _intrude(
                driver.unit.endpoint, mode="SignAndEncrypt", certificate=stranger / "own" / "mes-client.der",
                private_key=stranger / "own" / "mes-client.pem", server_certificate=pki / "trusted" / f"{UNIT}.der",
                send_certificate=send_certificate,
            )  # fmt: skip
        assert status_name(refused.value) == "BadCertificateUntrusted"
        await driver.connect()
        assert (await driver.read_setpoints())["power_w"] != INTRUDER_POWER_W
    [refusal] = _refusals(caplog)
    assert refusal.startswith(
        f"{UNIT}: refused a session: client certificate CN=mes-client, URI {CLIENT_URI}"
    )
    assert refusal.endswith(f"it is not in the trust list {pki / 'trusted'}")


async def test_a_sign_only_channel_gets_no_session_from_a_sign_and_encrypt_unit(
    sim_factory: SimFactory, pki: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A trusted client asks a SignAndEncrypt unit for a Sign channel (messages readable on the wire).
    # Expected: no channel, so no session (asyncua opens only the advertised policy and mode, or None);
    # the simulator says so in one line, with no traceback.
    async with sim_factory("packml-sputter", security=_security(pki), password=PASSWORD,
                           connect=False) as (_, driver):  # fmt: skip
        with pytest.raises((TimeoutError, ua.UaError)):
            await _intrude(
                driver.unit.endpoint, user="mes", password=PASSWORD, mode="Sign",
                certificate=pki / "own" / "mes-client.der", private_key=pki / "own" / "mes-client.pem",
                server_certificate=pki / "trusted" / f"{UNIT}.der",
            )  # fmt: skip
    assert _refusals(caplog) == [
        "refused a secure channel asking for Basic256Sha256 Sign: no endpoint of this server offers it"
    ]


async def test_another_trusted_unit_at_this_units_endpoint_is_refused_before_the_password(
    pki: Path,
) -> None:
    # sputter-u's certificate and key (trusted, like every unit's) answer at sputter-t's endpoint;
    # the line file pins sputter-t's certificate. Expected: SecurityRefused naming the unit, the
    # certificate presented and the one pinned, and no ActivateSession (no password) reaching the
    # impostor. (It used to connect, and the MES sent sputter-t's password to sputter-u.)
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}"
    prof = profile("packml-sputter")
    impostor = SimUnit(
        OTHER, prof, endpoint, security=_security(pki, server=OTHER), password=PASSWORD, seed=7
    )
    await impostor.start()
    pin = ServerPin(certificate=pki / "trusted" / f"{UNIT}.der")
    unit = UnitConfig(name=UNIT, equipment_class=prof.equipment_class, endpoint=endpoint,
                      profile=PROFILES / "packml-sputter.yaml", security=_security(pki, pin=pin))  # fmt: skip
    driver = UnitDriver(unit, prof, timeout_s=2.0, retry_s=5.0, password=PASSWORD)
    try:
        with pytest.raises(SecurityRefused) as refused:
            await driver.connect()
        assert impostor.server is not None
        assert impostor.server.iserver.user_manager.activations == 0
    finally:
        await driver.disconnect()
        await impostor.stop()
    presented = (pki / "trusted" / f"{OTHER}.der").read_bytes()
    expected = (pki / "trusted" / f"{UNIT}.der").read_bytes()
    assert str(refused.value) == (
        f"{UNIT}: {endpoint} presented the server certificate CN={OTHER}, URI urn:electrode-mes:sim:{OTHER}, "
        f"SHA-256 {thumbprint(presented)}; the line file pins CN={UNIT}, URI urn:electrode-mes:sim:{UNIT}, "
        f"SHA-256 {thumbprint(expected)} (server_pin: certificate {pki / 'trusted' / f'{UNIT}.der'})"
    )


@pytest.mark.parametrize("right", [True, False], ids=["its-thumbprint", "another-thumbprint"])
async def test_a_unit_pinned_by_thumbprint(sim_factory: SimFactory, pki: Path, right: bool) -> None:
    # Pinned by the SHA-256 of the unit's certificate, written as a plant's tools print it
    # (lower case, no colons). Expected: connects with its own; refused, naming both, with another.
    der = (pki / "trusted" / f"{UNIT if right else OTHER}.der").read_bytes()
    pin = ServerPin(sha256=thumbprint(der).replace(":", "").lower())
    async with sim_factory("packml-sputter", security=_security(pki, pin=pin), password=PASSWORD,
                           client_password=PASSWORD, connect=False) as (_, driver):  # fmt: skip
        if right:
            await driver.connect()
            assert await driver.read_state() == PackMLState.STOPPED
        else:
            with pytest.raises(
                SecurityRefused, match=f"CN={UNIT}, .*; the line file pins SHA-256 {thumbprint(der)}"
            ):
                await driver.connect()


def test_the_pin_field(pki: Path) -> None:
    der = (pki / "trusted" / f"{UNIT}.der").read_bytes()
    assert _security(pki, pin=ServerPin(sha256=thumbprint(der).lower())).pinned
    assert not _security(pki).pinned
    with pytest.raises(ValueError, match="server_pin takes one of certificate or sha256"):
        ServerPin(certificate=pki / "trusted" / f"{UNIT}.der", sha256=thumbprint(der))
    with pytest.raises(ValueError, match="server_pin takes one of certificate or sha256"):
        ServerPin()
    with pytest.raises(ValueError, match="64 hex digits"):
        ServerPin(sha256="AB:CD")
    with pytest.raises(ValueError, match="server_pin needs a secured link"):
        Security(server_pin=ServerPin(sha256=thumbprint(der)))
