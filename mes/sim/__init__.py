"""OPC UA simulators of the line's machines: PackML behaviour, process physics, faults."""
