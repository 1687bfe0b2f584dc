"""Engineering units per entry: a machine that counts power in kW, driven and read in W."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from asyncua import ua

from mes.equipment.driver import UnitDriver
from mes.equipment.errors import LimitViolation
from mes.equipment.jobs import run_job
from mes.equipment.profile import PackMLState, UnitConfig, load_profile, to_machine, to_mes
from mes.sim.unit import SimUnit
from tests.equipment.conftest import PROFILES
from tests.services import free_port

SETPOINTS = {"power_w": 1500.0, "pressure_pa": 0.5, "ar_flow_sccm": 30.0, "substrate_temp_c": 20.0,
             "web_speed_m_min": 2.0, "passes": 2, "tension_n": 60.0}  # fmt: skip


def kw_profile(tmp: Path) -> Path:
    text = (PROFILES / "packml-sputter.yaml").read_text()
    text = text.replace("id: packml-sputter", "id: kw-sputter")
    text = text.replace("data_type: Float, unit: W, min: 10, max: 6000}",
                        "data_type: Float, unit: W, min: 10, max: 6000, scale: 1000, machine_unit: kW}")  # fmt: skip
    text = text.replace("power_w: {node: s=Sputter.PV.Power, data_type: Float, unit: W}",
                        "power_w: {node: s=Sputter.PV.Power, data_type: Float, unit: W, scale: 1000, machine_unit: kW}")  # fmt: skip
    # a drum temperature in tenths of a degree on an Int16, with an offset in kelvin: 20 °C is 2931
    text = text.replace("substrate_temp_c: {node: s=Sputter.Setpoints.DrumTemp, data_type: Float, unit: C,",
                        "substrate_temp_c: {node: s=Sputter.Setpoints.DrumTemp, data_type: Int16, unit: C, "
                        "scale: 0.1, offset: -273.15, machine_unit: dK,")  # fmt: skip
    # the thickness gauge's ring buffer in µm: the MES reads nm
    text = text.replace("latest: {node: s=Sputter.Gauges.Xrf.Latest, data_type: Double}",
                        "latest: {node: s=Sputter.Gauges.Xrf.Latest, data_type: Double, scale: 1000, machine_unit: um}")  # fmt: skip
    path = tmp / "kw-sputter.yaml"
    path.write_text(text)
    return path


@asynccontextmanager
async def kw_unit(tmp: Path) -> AsyncIterator[tuple[SimUnit, UnitDriver]]:
    path = kw_profile(tmp)
    profile = load_profile(path)
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}"
    unit = UnitConfig(
        name="sputter-kw", equipment_class=profile.equipment_class, endpoint=endpoint, profile=path
    )
    sim = SimUnit(unit.name, profile, endpoint, time_scale=500, seed=3)
    await sim.start()
    driver = UnitDriver(unit, profile, timeout_s=2.0, retry_s=10.0)
    try:
        await driver.connect()
        yield sim, driver
    finally:
        await driver.disconnect()
        await sim.stop()


def test_conversion_functions_round_trip(tmp_path: Path) -> None:
    profile = load_profile(kw_profile(tmp_path))
    power, drum = profile.setpoints["power_w"], profile.setpoints["substrate_temp_c"]
    assert to_machine(power, 1500.0) == pytest.approx(1.5)
    assert to_mes(power, 1.5) == pytest.approx(1500.0)
    assert to_machine(drum, 20.0) == pytest.approx(2931.5)  # (20 + 273.15) / 0.1: not whole…
    assert to_machine(drum, 19.95) == 2931.0  # …whereas 19.95 °C is exactly 2931 dK
    assert to_mes(drum, 2931) == pytest.approx(19.95)


async def _raw(driver: UnitDriver, key: str) -> float:
    client = driver.client
    assert client is not None
    return float(await client.get_node(driver.nodes[key]).read_value())


async def client_value(driver: UnitDriver, key: str) -> list[float]:
    client = driver.client
    assert client is not None
    return list(await client.get_node(driver.nodes[key]).read_value())


async def test_scaled_writes_and_reads_against_a_simulator(tmp_path: Path) -> None:
    async with kw_unit(tmp_path) as (_sim, driver):
        setpoints = dict(SETPOINTS, substrate_temp_c=19.95)
        await driver.write_setpoints(setpoints)
        assert await _raw(driver, "sp.power_w") == pytest.approx(1.5)  # the machine got kW
        assert await _raw(driver, "sp.substrate_temp_c") == 2931  # and tenths of a kelvin
        back = await driver.read_setpoints()
        assert back["power_w"] == pytest.approx(1500.0, rel=1e-6)
        assert back["substrate_temp_c"] == pytest.approx(19.95)
        # limits are the MES's: 7 kW is 7000 W, above the profile's 6000 W, whatever the machine's number
        with pytest.raises(LimitViolation, match="sputter-kw:power_w: 7000 W is outside 10–6000 W"):
            await driver.write_setpoints(dict(setpoints, power_w=7000.0))
        # 20.02 °C is 2931.7 dK: not a whole number of the machine's Int16, refused before writing
        with pytest.raises(
            LimitViolation, match=r"substrate_temp_c: 20.02 C is 2931.7 dK: 2931.7 is not a whole"
        ):
            await driver.write_setpoints(dict(setpoints, substrate_temp_c=20.02))
        assert await _raw(driver, "sp.substrate_temp_c") == 2931
        result = await run_job(driver, job_id="KW-1", setpoints=setpoints, product="Si", length_m=2.0,
                               timeout_s=60.0, on_state=lambda _s: None)  # fmt: skip
        assert result.final_state == PackMLState.COMPLETE
        pv = await driver.read_values(["power_w"])
        assert pv["power_w"] == pytest.approx(1500.0, rel=0.02)  # the simulator's physics saw 1500 W
        assert await _raw(driver, "pv.power_w") == pytest.approx(1.5, rel=0.02)
        # ring-buffer lanes come in the machine's µm and are stored in nm (they were taken as nm)
        raw_latest = await client_value(driver, "gauge.xrf.latest")
        scans = await driver.read_scans("xrf", int(raw_latest[0]), 1)
        assert scans and scans[0].seq == int(raw_latest[0])
        assert scans[0].values == pytest.approx([v * 1000 for v in raw_latest[3:]])
        assert min(scans[0].values) > 50 * max(raw_latest[3:])
        client = driver.client
        assert client is not None
        vt = await client.get_node(driver.nodes["sp.substrate_temp_c"]).read_data_type_as_variant_type()
        assert vt == ua.VariantType.Int16
