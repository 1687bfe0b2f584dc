"""Commands, sent once and confirmed.

::

    confirmed(driver, command)
      ├─ observe()   state, job id, start counter / start counts, refusal counter   (before)
      ├─ send()      method call, or PackTags CntrlCmd then CmdChangeRequest      (once, never retried)
      └─ poll observe() until TOOK[command] shows (Start: with our job id, or the start
         counter rose) → the state; the refusal counter rose, or confirm_timeout_s passed
         → CommandNotConfirmed naming the unit, the command and what was seen

A PackTags machine that refuses a command (interlock, wrong state, job id used) just
resets CmdChangeRequest and stays where it was; a method may answer Good and do
nothing. Only the state, or a counter, tells whether a command took.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from asyncua import ua

from mes.equipment import status
from mes.equipment.encoding import encode, whole
from mes.equipment.errors import BadStatus, CommandNotConfirmed, EquipmentError, UnknownState
from mes.equipment.profile import Command, PackMLState
from mes.equipment.states import STARTED

if TYPE_CHECKING:
    from mes.equipment.driver import UnitDriver

S = PackMLState
# The states that show a command took (its acting state, or where that leads).
TOOK: dict[Command, frozenset[PackMLState]] = {
    Command.START: STARTED,
    Command.RESET: frozenset({S.RESETTING, S.IDLE}),
    Command.HOLD: frozenset({S.HOLDING, S.HELD}),
    Command.UNHOLD: frozenset({S.UNHOLDING, S.EXECUTE, S.COMPLETING, S.COMPLETE}),
    Command.SUSPEND: frozenset({S.SUSPENDING, S.SUSPENDED}),
    Command.UNSUSPEND: frozenset({S.UNSUSPENDING, S.EXECUTE, S.COMPLETING, S.COMPLETE}),
    Command.STOP: frozenset({S.STOPPING, S.STOPPED}),
    Command.ABORT: frozenset({S.ABORTING, S.ABORTED}),
    Command.CLEAR: frozenset({S.CLEARING, S.STOPPED}),
}
POLL_S = 0.02


@dataclass(frozen=True)
class Seen:
    """What the unit showed at one moment."""

    state: PackMLState | None
    job_id: str
    starts: int | None  # start counter, or this job's entry in start_counts
    refused: int | None
    state_error: EquipmentError | None = None

    def describe(self) -> str:
        parts = [f"state {self.state}" if self.state else f"state unreadable ({self.state_error})"]
        parts.append(f"job {self.job_id!r}")
        if self.starts is not None:
            parts.append(f"start count {self.starts}")
        if self.refused is not None:
            parts.append(f"refused count {self.refused}")
        return ", ".join(parts)


async def observe(driver: UnitDriver, job_id: str | None) -> Seen:
    """State, job id and counters in one request. An unknown or Bad state is recorded, not
    raised (a transient one must not end a confirmation); a lost link raises."""
    keys = ["state", "job.id"]
    counter = "cmd.start_counter" if "cmd.start_counter" in driver.refs else None
    counter = counter or ("start_counts" if "start_counts" in driver.refs else None)
    keys += [counter] if counter else []
    keys += ["cmd.refused_counter"] if "cmd.refused_counter" in driver.refs else []
    try:
        raw = await driver._read_many(keys, "observe the unit")
    except EquipmentError as exc:
        if not (isinstance(exc, BadStatus) and exc.node.startswith("state ")):
            raise
        raw = [None, *await driver._read_many(keys[1:], "observe the unit")]
        return _seen(driver, dict(zip(keys, raw, strict=True)), job_id, counter, exc)
    return _seen(driver, dict(zip(keys, raw, strict=True)), job_id, counter, None)


def _seen(
    driver: UnitDriver,
    values: dict[str, object],
    job_id: str | None,
    counter: str | None,
    error: EquipmentError | None,
) -> Seen:
    current = str(values.get("job.id") or "")
    state: PackMLState | None = None
    if error is None:
        try:
            state = driver.state_of(values["state"])
        except UnknownState as exc:
            error = exc
    starts: int | None = None
    if counter == "cmd.start_counter":
        starts = whole(values[counter])
    elif counter == "start_counts":
        try:
            counts = json.loads(str(values[counter] or "{}"))
            starts = whole(counts.get(job_id or current, 0)) if isinstance(counts, dict) else None
        except ValueError:
            starts = None
    refused = whole(values["cmd.refused_counter"]) if "cmd.refused_counter" in values else None
    return Seen(state, current, starts, refused, error)


def took(command: Command, before: Seen, now: Seen, job_id: str) -> bool:
    """Whether ``now`` shows ``command`` took (``before`` was seen just before sending it)."""
    if command == Command.START:
        rose = now.starts is not None and before.starts is not None and now.starts > before.starts
        return rose or (now.state in STARTED and now.job_id == job_id)
    return now.state in TOOK[command]


async def send(driver: UnitDriver, command: Command) -> None:
    """Send ``command`` once (no retry: a lost answer is reconciled by the caller).
    :class:`CommandRefused` for a refusal status, :class:`ConnectionLost` when the link
    failed, :class:`BadStatus` for any other status."""
    client = driver._client()
    cmds = driver.profile.commands
    what = f"{command}"
    try:
        if cmds.style == "method":
            obj = client.get_node(driver._obj())
            await obj.call_method(f"{driver.ns}:{cmds.names[command]}")
        else:
            await driver.check_writable(
                {
                    "cmd.cntrl_cmd": str(cmds.cntrl_cmd.data_type),
                    "cmd.change_request": str(cmds.change_request.data_type),
                }
            )
            number = encode(cmds.numbers[command], cmds.cntrl_cmd.data_type, where=f"{driver.name}:CntrlCmd")
            flag = encode(True, cmds.change_request.data_type, where=f"{driver.name}:CmdChangeRequest")
            # Two requests, in this order: the machine must see the command before the flag.
            for key, dv in (("cmd.cntrl_cmd", number), ("cmd.change_request", flag)):
                node = driver.where(key)
                nid = driver._nid(key)
                (code,) = await client.uaclient.write_attributes([nid], [dv], ua.AttributeIds.Value)
                status.check(code, unit=driver.name, what=what, node=node, command=True)
    except EquipmentError:
        raise
    except (ConnectionError, OSError, TimeoutError, ua.UaError) as exc:
        raise status.translate(exc, unit=driver.name, what=what, command=True) from exc


async def confirmed(driver: UnitDriver, command: Command, *, job_id: str | None = None) -> PackMLState:
    """Send ``command`` once and wait until the unit shows it took; see :meth:`UnitDriver.command`."""
    before = await observe(driver, job_id)
    job = job_id if job_id is not None else before.job_id
    await send(driver, command)
    timeout_s = driver.profile.commands.confirm_timeout_s
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        now = await observe(driver, job)
        if took(command, before, now, job):
            # A Start seen only by its counter, while the state was unreadable, is under way.
            return now.state or S.STARTING
        if now.refused is not None and before.refused is not None and now.refused > before.refused:
            raise CommandNotConfirmed(
                f"{driver.name}: {command} refused by the unit (refused count "
                f"{before.refused} → {now.refused}); seen: {now.describe()}"
            )
        if loop.time() > deadline:
            raise CommandNotConfirmed(
                f"{driver.name}: {command} not confirmed within {timeout_s:g} s; "
                f"before: {before.describe()}; seen: {now.describe()}"
            ) from now.state_error
        await asyncio.sleep(POLL_S)
