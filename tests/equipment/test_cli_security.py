"""Secured links as an integrator meets them: ``mes sim`` and ``mes equipment check`` processes."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mes.equipment.certs import init_pki
from tests.equipment.conftest import ROOT
from tests.equipment.test_cli import MES
from tests.services import free_port
from tests.test_cli import assert_one_line_error, run_mes

PASSWORD = "s3cret-line"
UNITS = ("sputter-1", "sputter-2")


@dataclass
class SecureLine:
    directory: Path
    ports: dict[str, int]
    sim_output: list[str]

    def line_file(self, name: str, **changes: dict[str, str]) -> Path:
        """A line file for the MES: every unit at its port, with its security block changed by
        ``changes[unit]`` (``endpoint_of`` puts the unit at another unit's port)."""
        text = "line: secure-test\nunits:\n"
        for unit in UNITS:
            change = dict(changes.get(unit.replace("-", "_"), {}))
            port = self.ports[change.pop("endpoint_of", unit)]
            security = {
                "policy": "Basic256Sha256", "mode": "SignAndEncrypt",
                "certificate": "pki/own/mes-client.der", "private_key": "pki/own/mes-client.pem",
                "trust_dir": "pki/trusted", "user": "mes", "password_env": "MES_OPCUA_PASSWORD",
                **change,
            }  # fmt: skip
            fields = ", ".join(f"{k}: {v}" for k, v in security.items())
            text += (
                f"  - {{name: {unit}, equipment_class: sputter, endpoint: 'opc.tcp://127.0.0.1:{port}',\n"
                f"     profile: {ROOT / 'recipes' / 'profiles' / 'packml-sputter.yaml'},\n"
                f"     security: {{{fields}}}}}\n"
            )
        path = self.directory / name
        path.write_text(text)
        return path

    def check(self, unit: str, line: Path) -> subprocess.CompletedProcess[str]:
        return run_mes("equipment", "check", unit, "--line", str(line), cwd=self.directory,
                       env={"MES_OPCUA_PASSWORD": PASSWORD})  # fmt: skip


@pytest.fixture(scope="module")
def secure_line(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureLine]:
    """Two SignAndEncrypt sputters with a user, simulated by a real ``mes sim`` process."""
    directory = tmp_path_factory.mktemp("secure-line")
    init_pki(directory / "pki", list(UNITS))
    line = SecureLine(directory, {u: free_port() for u in UNITS}, [])
    served = line.line_file(
        "sim.yaml",
        **{u.replace("-", "_"): {"server_certificate": f"pki/units/{u}.der",
                                 "server_private_key": f"pki/units/{u}.pem"} for u in UNITS},
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("MES_")} | {"MES_OPCUA_PASSWORD": PASSWORD}
    proc = subprocess.Popen([MES, "sim", "--line", str(served)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env, cwd=directory)  # fmt: skip
    assert proc.stdout is not None
    for text in proc.stdout:
        line.sim_output.append(text)
        if "simulators running" in text:
            break
    else:
        raise AssertionError("".join(line.sim_output))
    yield line
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=30)
    line.sim_output.append(rest)
    assert proc.returncode == 0, rest
    assert "Traceback" not in rest


PIN_1 = {"server_pin": "{certificate: pki/trusted/sputter-1.der}"}


def test_a_trusted_unit_passes_the_check(secure_line: SecureLine) -> None:
    result = secure_line.check("sputter-1", secure_line.line_file("mes.yaml", sputter_1=PIN_1))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sputter-1: all" in result.stdout


def test_another_unit_answering_at_a_pinned_units_endpoint_is_one_line(secure_line: SecureLine) -> None:
    # sputter-2 (trusted, with its own certificate and key) answers at the address the MES has for
    # sputter-1, which pins its certificate. Expected: exit 1, one line naming sputter-1, what was
    # presented (CN=sputter-2) and what is pinned (CN=sputter-1).
    # (It used to pass `mes equipment check sputter-1` and receive sputter-1's password.)
    line = secure_line.line_file(
        "impostor.yaml",
        sputter_1={"endpoint_of": "sputter-2", **PIN_1},
        sputter_2={"endpoint_of": "sputter-1"},
    )
    result = secure_line.check("sputter-1", line)
    assert_one_line_error(
        result,
        f"sputter-1: opc.tcp://127.0.0.1:{secure_line.ports['sputter-2']} presented the server certificate "
        "CN=sputter-2, URI urn:electrode-mes:sim:sputter-2",
        "; the line file pins CN=sputter-1, URI urn:electrode-mes:sim:sputter-1",
    )


def test_an_untrusted_server_certificate_is_one_line(secure_line: SecureLine) -> None:
    # The MES's trust list holds only its own certificate, not the unit's.
    # Expected: exit 1 and one line on stderr naming the unit, the certificate it presented
    # and the trust list; no asyncua traceback or log line before it.
    only_client = secure_line.directory / "trust-client-only"
    only_client.mkdir()
    (only_client / "mes-client.der").write_bytes(
        (secure_line.directory / "pki/trusted/mes-client.der").read_bytes()
    )
    line = secure_line.line_file("untrusting.yaml", sputter_1={"trust_dir": str(only_client)})
    result = secure_line.check("sputter-1", line)
    assert_one_line_error(result, "sputter-1", "CN=sputter-1", f"not in the trust list {only_client}")


def test_an_empty_trust_list_is_one_line(secure_line: SecureLine) -> None:
    # Expected: exit 1, one line naming the empty folder (was an internal error: "can't create an empty store").
    empty = secure_line.directory / "empty-trust"
    empty.mkdir()
    result = secure_line.check(
        "sputter-1", secure_line.line_file("empty.yaml", sputter_1={"trust_dir": str(empty)})
    )
    assert_one_line_error(result, f"trust directory {empty} holds no certificate")


def test_mes_debug_shows_what_asyncua_logged_about_the_refusal(secure_line: SecureLine) -> None:
    # The one line stays last; before it, with MES_DEBUG=1, asyncua's own DEBUG records of the
    # refusal (its trust store's traceback among them) are not hidden.
    only_client = secure_line.directory / "trust-client-only-debug"
    only_client.mkdir()
    (only_client / "mes-client.der").write_bytes(
        (secure_line.directory / "pki/trusted/mes-client.der").read_bytes()
    )
    line = secure_line.line_file("untrusting-debug.yaml", sputter_1={"trust_dir": str(only_client)})
    result = run_mes("equipment", "check", "sputter-1", "--line", str(line), cwd=secure_line.directory,
                     env={"MES_OPCUA_PASSWORD": PASSWORD, "MES_DEBUG": "1"})  # fmt: skip
    assert result.returncode == 1
    assert "DEBUG asyncuagds.validate: Not trusted certificate used: [CN=sputter-1]" in result.stderr
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("mes: error: sputter-1: ")
