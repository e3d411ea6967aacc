"""How to run Voila on the dashboard so that it works offline.

Voila's default "lab" template links Font Awesome from cdn.jsdelivr.net: without internet
the stylesheet fails (a console error, and a render-blocking request that can hang until
it times out). The "nexora" template (``nexora_widgets/jupyter/voila/templates/nexora``)
is Voila's lab template without that link. ``voila_command`` gives the command line and
the environment (``JUPYTER_PATH`` extended so Voila finds the template)::

    cmd, env = voila_command("notebooks/00_dashboard.ipynb", port=8866)
    subprocess.Popen(cmd, env=env, start_new_session=True)

Nothing here imports ipywidgets; ``kernel_model.cli`` may import it when it serves.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

TEMPLATE = "nexora"
DATA_DIR = Path(__file__).resolve().parent / "jupyter"        # holds voila/templates/nexora


def voila_env(env=None) -> dict:
    """``env`` (default: os.environ) with JUPYTER_PATH extended by the template's folder."""
    env = dict(os.environ if env is None else env)
    paths = [str(DATA_DIR)] + [p for p in env.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    env["JUPYTER_PATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def voila_args(port: int, ip: str = "127.0.0.1") -> list[str]:
    """Voila options: the offline template, no browser, bound to ``ip`` (loopback) on ``port``."""
    return ["--no-browser", f"--port={port}", f"--Voila.ip={ip}", "--Voila.port_retries=0",
            f"--template={TEMPLATE}"]


def voila_command(notebook, port: int, ip: str = "127.0.0.1", env=None) -> tuple[list[str], dict]:
    """(argv, environment) that serve ``notebook`` with Voila, offline-safe."""
    return [sys.executable, "-m", "voila", str(notebook), *voila_args(port, ip)], voila_env(env)
