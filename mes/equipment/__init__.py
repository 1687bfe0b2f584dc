"""Equipment: profiles, OPC UA driver, simulators."""
