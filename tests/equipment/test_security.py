"""Basic256Sha256 links with certificates and a user, on simulator and driver."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mes.equipment.certs import init_pki
from mes.equipment.errors import SecurityRefused
from mes.equipment.profile import PackMLState, Security
from tests.equipment.conftest import SimFactory

UNIT = "sputter-t"


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
        with pytest.raises(SecurityRefused, match="BadCertificateUntrusted"):
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
