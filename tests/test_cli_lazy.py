"""``mes`` imports a command's module only when that command is run or its help is asked for: the
console script starts in a fraction of the time it took when every module was loaded first.

Each check runs a fresh interpreter, as the console script does, and looks at ``sys.modules``.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mes.cli.app import COMMANDS, make_command

# What a command that needs none of it must not load: the OPC UA client, the database layer, the
# step commands (which load the equipment driver).
HEAVY = ("asyncua", "sqlalchemy", "sqlmodel", "mes.cli.steps", "mes.equipment.driver", "fastapi")

LOADED = """\
import json, sys
from mes.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def loaded_by(*argv: str, cwd: Path) -> set[str]:
    """The modules a fresh interpreter holds after ``mes *argv`` (a command that exits on its own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MES_")}
    result = subprocess.run(
        [sys.executable, "-c", LOADED, *argv], capture_output=True, text=True, env=env, cwd=cwd, timeout=60,
        check=False,
    )  # fmt: skip
    modules: set[str] = set(json.loads(result.stderr.strip().splitlines()[-1]))
    return modules


@pytest.mark.parametrize("argv", [["--version"], ["version"], ["--help"]], ids=" ".join)
def test_the_root_loads_no_command_module(argv: list[str], tmp_path: Path) -> None:
    loaded = loaded_by(*argv, cwd=tmp_path)
    assert "mes.cli.app" in loaded
    assert not {m for m in HEAVY if m in loaded}
    assert not {m for m in loaded if m.startswith("mes.cli.") and m not in {"mes.cli.app", "mes.cli.console"}}


def test_a_command_loads_its_own_module_and_not_the_others(tmp_path: Path) -> None:
    loaded = loaded_by("lot", "list", "--help", cwd=tmp_path)
    assert "mes.cli.lots" in loaded
    assert not {m for m in ("asyncua", "mes.cli.steps", "mes.equipment.driver", "mes.cli.web") if m in loaded}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_line_mes_help_shows_is_the_commands_own(name: str) -> None:
    """``mes --help`` lists the commands from the table without loading them: each line there is the
    first paragraph of the command's help, as typer would show it from the command itself."""
    load, line = COMMANDS[name]
    command = make_command(name, load())
    assert command.name == name
    assert inspect.cleandoc(command.short_help or command.help or "").split("\n\n")[0] == line
    assert not command.hidden and not command.deprecated
    assert not getattr(command, "rich_help_panel", None)
