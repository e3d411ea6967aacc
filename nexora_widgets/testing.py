"""Test and benchmark helper: widgets created inside :func:`record_comms` send their
messages to a recording comm (JSON-encoded as a kernel would) instead of a frontend."""
from __future__ import annotations

import contextlib
import json

import comm
from comm.base_comm import BaseComm


class CommLog(list):
    """Messages as (msg_type, comm_id, data, total buffer bytes, JSON bytes)."""

    def of(self, widget, msg_type="comm_msg"):
        """The messages one widget sent (default: state updates)."""
        return [m for m in self if m[1] == widget.model_id and m[0] == msg_type]

    def opened(self):
        return [m for m in self if m[0] == "comm_open"]


@contextlib.contextmanager
def record_comms():
    """``with record_comms() as log: ...`` -> every widget comm message in ``log``."""
    log = CommLog()

    class RecordingComm(BaseComm):
        def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
            text = json.dumps(data, default=str)       # the cost a kernel pays to send it
            log.append((msg_type, self.comm_id, data, sum(len(memoryview(b)) for b in buffers or []),
                        len(text)))

    saved = comm.create_comm
    comm.create_comm = lambda *a, **kw: RecordingComm(*a, **kw)
    try:
        yield log
    finally:
        comm.create_comm = saved
