"""Groups of PackML states (OPC 30050 names) the MES reasons with, defined once.

::

    RUNNING   a job in hand, not finished: Starting … Unsuspending (Held and Suspended too)
    BUSY      RUNNING or Complete: the unit holds a job; nothing else may start there
    STARTED   BUSY, or aborted after a Start: evidence that a Start took
    ACTING    transient states the machine leaves by itself (Resetting, Stopping, …)
    WAITING   no band is made: Idle, Stopped, Resetting, Clearing, Aborted
"""

from __future__ import annotations

from mes.equipment.profile import PackMLState

S = PackMLState

RUNNING = frozenset(
    {
        S.STARTING,
        S.EXECUTE,
        S.COMPLETING,
        S.HOLDING,
        S.HELD,
        S.UNHOLDING,
        S.SUSPENDING,
        S.SUSPENDED,
        S.UNSUSPENDING,
    }
)
BUSY = RUNNING | {S.COMPLETE}
# A web break at 0 m aborts the machine right after it started: that Start took too.
STARTED = BUSY | {S.ABORTING, S.ABORTED}
ACTING = frozenset(
    {
        S.RESETTING,
        S.STARTING,
        S.COMPLETING,
        S.STOPPING,
        S.ABORTING,
        S.CLEARING,
        S.SUSPENDING,
        S.UNSUSPENDING,
        S.HOLDING,
        S.UNHOLDING,
    }
)
WAITING = frozenset({S.IDLE, S.STOPPED, S.RESETTING, S.CLEARING, S.ABORTED})
