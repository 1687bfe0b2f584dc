"""Execution: ISA-88 procedural control of the line's steps.

The scheduler (`scheduler.py`) plans and dispatches step runs to units and holds
their leases; `steps.py` moves one step run through its states against its unit;
`faults.py` decides how an equipment fault ends (retried, resumed or held with an
alarm); `monitor.py` runs the SPC rules while a layer is made; `service.py` answers
and carries out operators' step and unit actions (list, show, resume, abort).

It stands above the production record (`mes.lots`) and quality (`mes.quality`),
which it writes, and below the applications that drive it (workers, collector, CLI).
"""
