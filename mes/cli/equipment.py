"""``mes sim``, ``mes certs init``, ``mes equipment check|run-job``: simulators and commissioning."""

from __future__ import annotations

import asyncio
import math
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from mes.cli.common import finite, out
from mes.cli.tables import Column, ident, print_table, text
from mes.config import get_settings
from mes.equipment.errors import ArgumentInvalid, EquipmentError
from mes.equipment.line import load_line_for
from mes.equipment.ports import check_ports, unavailable
from mes.equipment.profile import Line, PackMLState
from mes.errors import MesError
from mes.sim.faults import parse_line_faults

# asyncua costs a third of a second to import; only the commands that talk OPC UA
# import it (inside the function), so `mes recipe …` and friends start fast.
if TYPE_CHECKING:
    from mes.equipment.driver import UnitDriver
    from mes.sim.unit import SimUnit

equipment_app = typer.Typer(
    help="Commission units: check a profile against a machine, run one job.", no_args_is_help=True
)
certs_app = typer.Typer(help="OPC UA certificates for the line.", no_args_is_help=True)

LineOption = typer.Option(None, "--line", help="Line file (default: MES_LINE_CONFIG).")


def _line(path: Path | None) -> Line:
    # Settings are read even when --line names the file: production checks the file given.
    return load_line_for(get_settings(), path)


def sim(
    line_path: Path | None = LineOption,
    time_scale: float = typer.Option(
        1.0, "--time-scale", callback=finite, min=0.01, max=100_000, help="Process seconds per second."
    ),
    faults: str = typer.Option(
        "", "--faults", help="UNIT:KIND[,key=value…][;…] e.g. sputter-1:drift,pct_per_100m=3"
    ),
    state_dir: Path | None = typer.Option(
        None, "--state-dir", help="Keep each machine's state here across restarts."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Noise seed, for repeatable runs."),
) -> None:
    """Run a simulator for every unit of the line until Ctrl-C."""
    from mes.sim.unit import SimUnit

    line = _line(line_path)
    armed = parse_line_faults(faults, set(line.units))
    check_ports(line)  # every port first: a line comes up whole or not at all
    units = [
        SimUnit(
            name,
            line.profiles[name],
            cfg.endpoint,
            time_scale=time_scale,
            security=cfg.security,
            password=_password(cfg.security.password_env),
            faults=armed.get(name),
            state_file=state_dir / f"{name}.sqlite" if state_dir else None,
            seed=None if seed is None else seed + i,
        )
        for i, (name, cfg) in enumerate(line.units.items())
    ]
    asyncio.run(_serve(units))


def _password(env: str | None) -> str | None:
    return os.environ.get(env) if env else None


async def _serve(units: list[SimUnit]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    started: list[SimUnit] = []
    try:
        for unit in units:
            try:
                await unit.start()
            except OSError as exc:  # taken after the check, by a faster process
                raise unavailable(unit.name, unit.endpoint, exc) from exc
            started.append(unit)
            out.print(
                f"{unit.name}: {unit.profile.equipment_class} simulator at {unit.endpoint} "
                f"(profile {unit.profile.id}, time scale {unit.time_scale:g})"
            )
        out.print("simulators running; Ctrl-C stops them")
        await stop.wait()
    finally:
        for unit in reversed(started):
            await unit.stop()
    out.print("simulators stopped")


@certs_app.command("init")
def certs_init(
    directory: Path = typer.Option(Path("pki"), "--dir", help="PKI folder to create."),
    line_path: Path | None = LineOption,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing certificates."),
) -> None:
    """Create self-signed certificates for the MES client and every unit, and a trust list."""
    from mes.equipment.certs import init_pki
    from mes.equipment.security import thumbprint

    line = _line(line_path)
    pki = init_pki(directory, list(line.units), overwrite=overwrite)
    out.print(
        f"{len(pki.written)} file(s) written to {directory}: own/ the MES client's certificate and key, "
        "trusted/ the trust list, units/ each unit's certificate and key"
    )
    for unit in pki.moved:
        out.print(f"{unit}: certificate and key from an earlier `mes certs init` moved from own/ to units/")
    out.print(
        f"{directory / 'units'} holds the units' private keys, which belong on the machines: copy each "
        "unit's .der and .pem to that machine (or to the host that runs `mes sim`), then delete "
        f"{directory / 'units'} from the MES host. The MES needs own/ and trusted/ only."
    )
    out.print(
        "Pin each unit in the line file: server_pin: {certificate: "
        f"{directory.resolve() / 'trusted'}/UNIT.der}}, or server_pin: {{sha256: '…'}} with:"
    )
    width = max(len(unit) for unit in line.units)
    for unit in line.units:
        cert = directory / "trusted" / f"{unit}.der"
        if cert.exists():
            # emoji=False: rich reads ":AB:" in a thumbprint as an emoji code
            out.print(f"  {unit:<{width}}  {thumbprint(cert.read_bytes())}", emoji=False, markup=False)


async def _connected(line: Line, unit: str) -> UnitDriver:
    from mes.equipment.driver import UnitDriver

    driver = UnitDriver(line.unit(unit), line.profiles[unit])
    await driver.connect()
    return driver


@equipment_app.command("check")
def check(
    unit: str = typer.Argument(..., help="Unit name from the line file."), line_path: Path | None = LineOption
) -> None:
    """List every profile entry as present / missing / wrong type / not writable (exit 1 if any is wrong)."""
    from mes.equipment.commission import check_unit

    line = _line(line_path)

    async def go() -> None:
        driver = await _connected(line, unit)
        try:
            report = await check_unit(driver)
        finally:
            await driver.disconnect()
        columns = [ident("entry"), ident("node"), Column("status"), text("detail")]
        print_table(columns, [[e.entry, e.node, e.status, e.detail] for e in report.entries])
        out.print(f"{unit}: state {report.state or report.state_error}")
        _recipe_fits(line, unit)
        bad = sum(1 for e in report.entries if not e.ok)
        if not report.ok:
            raise EquipmentError(f"{unit}: {bad} profile entr{'y' if bad == 1 else 'ies'} wrong")
        out.print(f"{unit}: all {len(report.entries)} profile entries present")

    asyncio.run(go())


def _recipe_fits(line: Line, unit: str) -> None:
    """Which released recipes (MES_DATABASE_URL) the unit can run, with the scheduler's reasons."""
    from sqlalchemy.exc import SQLAlchemyError

    from mes.cli.common import database
    from mes.db import session_scope
    from mes.equipment.commission import recipes_for_unit

    try:
        with database() as engine, session_scope(engine) as session:
            fits = recipes_for_unit(session, unit, line.profiles[unit])
    except (SQLAlchemyError, MesError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        out.print(f"{unit}: released recipes not checked: {reason}")
        return
    if not fits:
        out.print(f"{unit}: no released recipe has a {line.profiles[unit].equipment_class} step")
    for fit in fits:
        for index, name, why in fit.steps:
            verdict = "can run" if why is None else f"cannot run: {why}"
            out.print(f"{unit}: {fit.recipe} step {index} ({name}): {verdict}")


def _setpoints(pairs: list[str]) -> dict[str, float]:
    values: dict[str, float] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not sep or not name or not math.isfinite(value):
            raise ArgumentInvalid(f"--set {pair!r}: expected NAME=NUMBER, e.g. --set power_w=1500")
        if name.strip() in values:
            raise ArgumentInvalid(f"--set {pair!r}: {name.strip()} is given twice")
        values[name.strip()] = value
    return values


@equipment_app.command("run-job")
def run_job_command(
    unit: str = typer.Argument(...),
    job_id: str = typer.Option(
        ..., "--job-id", help="Job id written to the unit; it refuses to start one twice."
    ),
    sets: list[str] = typer.Option([], "--set", help="Setpoint NAME=VALUE (repeat)."),
    product: str = typer.Option("", "--product", help="Product / material id for the unit."),
    length_m: float = typer.Option(
        10.0, "--length-m", callback=finite, min=0.01, help="Roll length of the job [m]."
    ),
    timeout: float = typer.Option(
        300.0, "--timeout", callback=finite, min=1, help="Seconds to wait for the end of the job."
    ),
    line_path: Path | None = LineOption,
) -> None:
    """Limit-check and write setpoints, Reset to Idle if needed, Start, follow to Complete (exit 0 only)."""
    from mes.equipment.driver import UnitDriver
    from mes.equipment.jobs import run_job
    from mes.vocabulary import SETPOINT_MODELS

    line = _line(line_path)
    setpoints = _setpoints(sets)

    async def go() -> None:
        driver = UnitDriver(line.unit(unit), line.profiles[unit])
        driver.check_setpoints(setpoints)  # before we even connect
        profile = driver.profile
        fields = SETPOINT_MODELS[profile.equipment_class].model_fields
        missing = [n for n, f in fields.items() if f.is_required() and n not in setpoints]
        missing = [n for n in missing if n not in profile.absent_setpoints]
        if missing:
            # Whatever the last job left in a setpoint not given would be run with: refuse.
            raise ArgumentInvalid(
                f"{unit}: a job sets every setpoint of a {profile.equipment_class}; missing "
                f"{', '.join('--set ' + n + '=…' for n in missing)} (nothing written)"
            )
        driver.job_values(job_id, product, length_m)
        await driver.connect()
        try:
            result = await run_job(
                driver,
                job_id=job_id,
                setpoints=setpoints,
                product=product,
                length_m=length_m,
                timeout_s=timeout,
                on_state=lambda s: out.print(f"{unit}: {s}"),
            )
        finally:
            await driver.disconnect()
        for name, value in result.process_values.items():
            out.print(f"  {name} = {value:.6g}")
        if result.final_state != PackMLState.COMPLETE:
            raise EquipmentError(f"{unit}: job {job_id} ended {result.final_state}, not Complete")
        out.print(f"{unit}: job {job_id} complete")

    asyncio.run(go())


@equipment_app.command("browse")
def browse_command(
    endpoint: str = typer.Argument(..., help="opc.tcp://HOST:PORT[/path] of the machine."),
    security: str = typer.Option(
        "None", "--security", help="None, or Basic256Sha256:Sign / Basic256Sha256:SignAndEncrypt."
    ),
    certificate: Path | None = typer.Option(None, "--certificate", help="The MES's certificate."),
    private_key: Path | None = typer.Option(None, "--private-key", help="The MES's private key."),
    trust_dir: Path | None = typer.Option(None, "--trust-dir", help="Certificates of trusted servers."),
    user: str | None = typer.Option(None, "--user", help="OPC UA user name."),
    password_env: str | None = typer.Option(None, "--password-env", help="Variable holding the password."),
) -> None:
    """Print a draft profile (YAML) from the machine's address space; complete its TODOs."""
    from pydantic import ValidationError

    from mes.equipment.browse import browse_endpoint
    from mes.equipment.profile import Security

    policy, _, mode = security.partition(":")
    try:
        sec = Security.model_validate(
            {"policy": policy, "mode": mode or "None", "certificate": certificate, "private_key": private_key,
             "trust_dir": trust_dir, "user": user, "password_env": password_env}
        )  # fmt: skip
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise ArgumentInvalid(f"--security {security}: {reason}") from exc
    if not endpoint.startswith("opc.tcp://"):
        raise ArgumentInvalid(f"{endpoint}: expected an endpoint opc.tcp://HOST:PORT")
    text = asyncio.run(browse_endpoint(endpoint, sec, _password(password_env)))
    print(text, end="")  # noqa: T201 - the draft is the command's output, meant for a file
