"""Shared fixtures. Other test modules may add theirs here."""
from __future__ import annotations

import socket
import subprocess
import sys

import pytest


@pytest.fixture
def comms():
    """Widgets created in the test send their messages to a recording comm (a list of
    (msg_type, comm_id, data, buffer bytes, JSON bytes)); see nexora_widgets.testing."""
    pytest.importorskip("ipywidgets")
    from nexora_widgets.testing import record_comms
    with record_comms() as log:
        yield log


@pytest.fixture
def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def python_ok():
    """Run Python code in a fresh interpreter (a clean ``sys.modules``); fail with its
    output unless it exits 0. Returns the CompletedProcess."""
    def run(code: str):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
        return out
    return run
