"""``cimkit dashboard``: one-line errors (exit 2) for bad stores and ports, and a real server."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest
from dashboard_helpers import GA_RUN
from typer.testing import CliRunner

from cimkit.cli import app

runner = CliRunner()


def invoke(*args: str):
    res = runner.invoke(app, ["dashboard", *args])
    assert res.exit_code == 2, res.output
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.output
    return lines[0]


def test_missing_store_exits_2_and_is_not_created(tmp_path) -> None:
    p = tmp_path / "runs" / "cimkit.sqlite"
    line = invoke("--store", str(p))
    assert "--store" in line and "file not found" in line
    assert not p.exists() and not p.parent.exists()


def test_not_a_store_exits_2(tmp_path) -> None:
    p = tmp_path / "notes.sqlite"
    p.write_text("not sqlite at all " * 50)
    assert "not a SQLite database" in invoke("--store", str(p))


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_port_out_of_range_exits_2(two_runs, port) -> None:
    line = invoke("--store", str(two_runs["store"]), "--port", port)
    assert f"--port {port}" in line and "0..65535" in line


def test_port_in_use_exits_2(two_runs) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        line = invoke("--store", str(two_runs["store"]), "--port", str(port))
    assert f"--port {port}" in line and "cannot listen" in line


def test_unknown_or_malformed_host_exits_2(two_runs) -> None:
    store = str(two_runs["store"])
    line = invoke("--store", store, "--host", "no-such-host.invalid", "--port", "0")
    assert "--host no-such-host.invalid" in line
    line = invoke("--store", store, "--host", "a" * 300, "--port", "0")  # label > 63 chars
    assert "not a host name or address" in line and len(line) < 300


def test_command_serves_the_store_until_sigterm(two_runs) -> None:
    """The real command in a subprocess: prints its URL, answers the API, stops on SIGTERM."""
    cmd = [sys.executable, "-m", "cimkit.cli", "dashboard", "--store", str(two_runs["store"])]
    proc = subprocess.Popen(
        [*cmd, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("cimkit dashboard: http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split()[2]
        with urllib.request.urlopen(url + "api/runs", timeout=30) as r:
            names = [x["name"] for x in json.load(r)["runs"]]
        assert GA_RUN in names and len(names) == 2
        with urllib.request.urlopen(url, timeout=30) as r:
            assert b'id="designs"' in r.read()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in err
