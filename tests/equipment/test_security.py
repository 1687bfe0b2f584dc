"""Basic256Sha256 links with certificates and a user, on simulator and driver."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from asyncua import ua

from mes.equipment.certs import init_pki
from mes.equipment.errors import SecurityRefused
from mes.equipment.profile import PackMLState, Security
from mes.equipment.security import CLIENT_URI
from mes.equipment.status import status_name
from tests.equipment.conftest import SimFactory
from tests.equipment.raw_client import raw_session, write_power_and_reset

UNIT = "sputter-t"
PASSWORD = "s3cret-line"
INTRUDER_POWER_W = 4321.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    written = init_pki(directory, [UNIT])
    assert len(written) == 6
    return directory


def _security(pki: Path, mode: str = "SignAndEncrypt", *, client: str = "mes-client", trust: Path | None = None,
              user: bool = True) -> Security:  # fmt: skip
    return Security(
        policy="Basic256Sha256", mode=mode,
        certificate=pki / "own" / f"{client}.der", private_key=pki / "own" / f"{client}.pem",
        trust_dir=trust or pki / "trusted",
        server_certificate=pki / "own" / f"{UNIT}.der", server_private_key=pki / "own" / f"{UNIT}.pem",
        user="mes" if user else None, password_env="MES_TEST_OPCUA_PASSWORD" if user else None,
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
        shutil.copy(pki / "own" / f"{UNIT}.der", stranger / "trusted" / "real-unit.der")
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


def test_production_refuses_security_none(tmp_path: Path) -> None:
    from mes.config import load_settings
    from mes.errors import ConfigError

    line = tmp_path / "line.yaml"
    line.write_text(Path(__file__).resolve().parents[2].joinpath("deploy/line.yaml").read_text())
    with pytest.raises(ConfigError, match="sputter-1, sputter-2, coater-1, winder-1"):
        load_settings(environment="production", secret_key="a-real-secret-value", line_config=line,
                      database_url="postgresql://x@y/z")  # fmt: skip


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
