"""The PackML state machine (OPC 30050 / ISA-TR88.00.02) of a simulated unit.

Acting states (Resetting, Starting, …) finish by themselves after a short
process time; waiting states (Idle, Execute, Held, …) change only on a command
or, for Execute, when the job is done. A ``stuck`` fault keeps the machine in
its next acting state until it is aborted.
"""

from __future__ import annotations

from mes.equipment.profile import Command, PackMLState
from mes.sim.errors import Refused

S = PackMLState

ACTING_NEXT: dict[PackMLState, PackMLState] = {
    S.RESETTING: S.IDLE,
    S.STARTING: S.EXECUTE,
    S.COMPLETING: S.COMPLETE,
    S.STOPPING: S.STOPPED,
    S.ABORTING: S.ABORTED,
    S.CLEARING: S.STOPPED,
    S.SUSPENDING: S.SUSPENDED,
    S.UNSUSPENDING: S.EXECUTE,
    S.HOLDING: S.HELD,
    S.UNHOLDING: S.EXECUTE,
}

_STOPPABLE = frozenset(PackMLState) - {S.STOPPED, S.STOPPING, S.ABORTING, S.ABORTED, S.CLEARING}

# command → (states it is accepted in, acting state it leads to)
TRANSITIONS: dict[Command, tuple[frozenset[PackMLState], PackMLState]] = {
    Command.RESET: (frozenset({S.COMPLETE, S.STOPPED}), S.RESETTING),
    Command.START: (frozenset({S.IDLE}), S.STARTING),
    Command.STOP: (_STOPPABLE, S.STOPPING),
    Command.HOLD: (frozenset({S.EXECUTE, S.SUSPENDED}), S.HOLDING),
    Command.UNHOLD: (frozenset({S.HELD}), S.UNHOLDING),
    Command.SUSPEND: (frozenset({S.EXECUTE}), S.SUSPENDING),
    Command.UNSUSPEND: (frozenset({S.SUSPENDED}), S.UNSUSPENDING),
    Command.ABORT: (frozenset(PackMLState) - {S.ABORTING, S.ABORTED}, S.ABORTING),
    Command.CLEAR: (frozenset({S.ABORTED}), S.CLEARING),
}


class PackMLMachine:
    """State plus the process time spent in it."""

    def __init__(
        self, state: PackMLState = S.STOPPED, acting_time_s: float = 2.0, min_ticks: int = 1
    ) -> None:
        self.state = state
        self.acting_time_s = acting_time_s
        # At a high time scale an acting state would last a fraction of a tick;
        # a few ticks of dwell keep it visible to a client that polls the state.
        self.min_ticks = min_ticks
        self.ticks_in_state = 0
        self.time_in_state_s = 0.0
        self.stuck_in: PackMLState | None = None

    def command(self, command: Command) -> PackMLState:
        """Apply ``command``; raise :class:`Refused` when the present state does not accept it."""
        allowed, target = TRANSITIONS[command]
        if self.state not in allowed:
            raise Refused(f"{command} is not accepted in {self.state}")
        self._enter(target)
        return target

    def job_done(self) -> None:
        if self.state == S.EXECUTE:
            self._enter(S.COMPLETING)

    def abort(self) -> None:
        """A machine fault (web break, …): abort whatever is going on."""
        if self.state not in (S.ABORTING, S.ABORTED):
            self._enter(S.ABORTING)

    def advance(self, dt_s: float) -> PackMLState | None:
        """Let ``dt_s`` of process time pass; returns the new state when it changed."""
        self.time_in_state_s += dt_s
        self.ticks_in_state += 1
        nxt = ACTING_NEXT.get(self.state)
        if nxt is None or self.time_in_state_s < self.acting_time_s or self.ticks_in_state < self.min_ticks:
            return None
        if self.stuck_in == self.state:
            return None
        self._enter(nxt)
        return nxt

    def _enter(self, state: PackMLState) -> None:
        if self.stuck_in is not None and self.state == self.stuck_in and state in (S.ABORTING, S.STOPPING):
            self.stuck_in = None  # aborting or stopping frees a stuck machine
        self.state = state
        self.time_in_state_s = 0.0
        self.ticks_in_state = 0

    @property
    def executing(self) -> bool:
        return self.state == S.EXECUTE
