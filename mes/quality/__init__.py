"""Quality: spec checks, SPC, alarms, disposition."""
