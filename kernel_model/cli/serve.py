"""``nexora --serve PORT``: the dashboard notebook in Voila, bounded and stoppable.

Voila runs as a child in its own process group (``voila_app``), configured so that
  * it binds 127.0.0.1 unless ``--serve-ip`` says otherwise (with a warning);
  * kernels idle with no page attached for ``--serve-cull-s`` seconds are stopped
    (each page load starts one, ~120 MB, and a reload leaves the old one behind);
  * at most ``--serve-max-kernels`` kernels live at once: the next page gets HTTP 503;
and SIGTERM / SIGINT to ``nexora`` stop Voila and every kernel it started (kernels run in
sessions of their own, so they are collected by parentage before the group is stopped).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from .common import BadInput, PROG

STOP_GRACE_S = 5.0


def dashboard_path():
    """notebooks/00_dashboard.ipynb of the source tree (next to the package), else a copy
    shipped inside the package (kernel_model/notebooks/, for wheels)."""
    import kernel_model
    pkg = os.path.dirname(os.path.abspath(kernel_model.__file__))
    tree = os.path.join(os.path.dirname(pkg), "notebooks", "00_dashboard.ipynb")
    shipped = os.path.join(pkg, "notebooks", "00_dashboard.ipynb")
    return tree if os.path.exists(tree) or not os.path.exists(shipped) else shipped


def serve_command(port: int, notebook: str | None = None, ip: str = "127.0.0.1",
                  max_kernels: int = 8, cull_s: int = 120) -> list[str]:
    """The Voila command line (through ``kernel_model.cli.voila_app``), no browser."""
    nb = notebook or dashboard_path()
    return [sys.executable, "-m", "kernel_model.cli.voila_app", f"--port={port}", f"--ip={ip}",
            f"--max-kernels={max_kernels}", f"--cull-s={cull_s}", nb]


def descendants(pid: int) -> list[int]:
    """Process ids below ``pid`` (children, grandchildren, ...), from /proc or psutil."""
    try:
        import psutil
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except Exception:
        pass
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:                                   # a zombie is gone for our purposes
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def stop_tree(proc: subprocess.Popen, grace: float = STOP_GRACE_S) -> None:
    """SIGTERM Voila's process group (Voila shuts its kernels down), then SIGKILL whatever
    of the tree it started is still alive after ``grace`` seconds."""
    tree = descendants(proc.pid)
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if proc.poll() is not None and not any(_alive(p) for p in tree):
            break
        time.sleep(0.1)
    for pid in [proc.pid] + tree:
        if _alive(pid):
            for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
                try:
                    kill()
                except (ProcessLookupError, PermissionError):
                    pass
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass


class _Stop(Exception):
    pass


def run_serve(a) -> int:
    nb = a.serve_notebook or dashboard_path()
    if not os.path.isfile(nb):
        raise BadInput(f"--serve: the notebook {nb} is missing" +
                       ("" if a.serve_notebook else " (install from the source tree, which has notebooks/)"))
    import importlib.util
    if importlib.util.find_spec("voila") is None:
        raise BadInput("--serve needs Voila: pip install 'nexora-widgets[notebooks]'")
    if a.serve_ip not in ("127.0.0.1", "localhost", "::1"):
        print(f"{PROG}: warning: --serve-ip {a.serve_ip}: the dashboard (and a Python kernel "
              f"behind it) is reachable from other machines", file=sys.stderr)
    print(f"{PROG}: serving {nb} on http://{a.serve_ip}:{a.serve}/ (at most {a.serve_max_kernels} "
          f"kernels, idle ones stopped after {a.serve_cull_s} s; Ctrl-C stops)", file=sys.stderr)
    cmd = serve_command(a.serve, nb, a.serve_ip, a.serve_max_kernels, a.serve_cull_s)

    def handler(signum, frame):
        raise _Stop(signum)

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    proc = None
    try:
        proc = subprocess.Popen(cmd, start_new_session=True)
        return proc.wait()
    except (_Stop, KeyboardInterrupt):
        return 0
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        if proc is not None:
            stop_tree(proc)
