"""The PackML state machine of the simulators, without a server."""

from __future__ import annotations

import pytest

from mes.equipment.profile import OPC30050_STATES, Command, PackMLState
from mes.sim.errors import Refused
from mes.sim.packml import ACTING_NEXT, TRANSITIONS, PackMLMachine

S = PackMLState


def test_opc30050_numbers() -> None:
    assert OPC30050_STATES[S.STOPPED] == 0
    assert OPC30050_STATES[S.IDLE] == 2
    assert OPC30050_STATES[S.EXECUTE] == 4
    assert OPC30050_STATES[S.COMPLETE] == 6
    assert OPC30050_STATES[S.ABORTED] == 8
    assert OPC30050_STATES[S.HELD] == 15
    assert OPC30050_STATES[S.UNHOLDING] == 16


@pytest.mark.parametrize("command", list(Command))
@pytest.mark.parametrize("state", list(PackMLState))
def test_every_command_in_every_state(command: Command, state: PackMLState) -> None:
    machine = PackMLMachine(state)
    allowed, target = TRANSITIONS[command]
    if state in allowed:
        assert machine.command(command) == target
        assert machine.state == target
    else:
        with pytest.raises(Refused):
            machine.command(command)
        assert machine.state == state


def test_a_job_runs_through_the_acting_states() -> None:
    machine = PackMLMachine(S.STOPPED, acting_time_s=1.0)
    machine.command(Command.RESET)
    assert machine.advance(0.5) is None
    assert machine.advance(0.6) == S.IDLE
    with pytest.raises(Refused):
        machine.command(Command.RESET)
    machine.command(Command.START)
    assert machine.advance(1.0) == S.EXECUTE
    assert machine.advance(100.0) is None  # Execute waits for the job
    machine.job_done()
    assert machine.advance(1.0) == S.COMPLETE


def test_start_only_from_idle() -> None:
    for state in set(PackMLState) - {S.IDLE}:
        with pytest.raises(Refused, match="Start is not accepted"):
            PackMLMachine(state).command(Command.START)


def test_stuck_machine_stays_until_aborted() -> None:
    machine = PackMLMachine(S.IDLE, acting_time_s=1.0)
    machine.stuck_in = S.STARTING
    machine.command(Command.START)
    assert machine.advance(1_000.0) is None
    assert machine.state == S.STARTING
    machine.command(Command.ABORT)
    assert machine.advance(1.0) == S.ABORTED
    assert machine.stuck_in is None


def test_every_acting_state_leads_to_a_waiting_state() -> None:
    for acting, nxt in ACTING_NEXT.items():
        assert nxt not in ACTING_NEXT, (acting, nxt)
