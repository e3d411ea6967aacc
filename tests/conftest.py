"""Shared fixtures. Other test modules may add theirs here."""
from __future__ import annotations

import socket

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
