"""Voila for ``nexora --serve``: ``python -m kernel_model.cli.voila_app --port=P --ip=A
--max-kernels=N --cull-s=S NOTEBOOK``. Culls idle kernels with no page attached and refuses
a new page (HTTP 503) while ``--max-kernels`` kernels are alive."""
from __future__ import annotations

import sys


def _opts(argv):
    opts, rest = {}, []
    for x in argv:
        if x.startswith("--") and "=" in x:
            k, v = x[2:].split("=", 1)
            opts[k] = v
        else:
            rest.append(x)
    return opts, rest


def cap_hook(max_kernels: int):
    """A Voila prelaunch hook that refuses a page while ``max_kernels`` kernels live."""
    def hook(req, notebook, cwd):
        from tornado.web import HTTPError
        n = len(req.kernel_manager.list_kernel_ids())
        if n >= max_kernels:
            raise HTTPError(503, reason=f"{n} dashboard kernels are running (the limit of "
                                        f"nexora --serve-max-kernels); close a page or wait "
                                        f"for idle ones to stop")
    return hook


def config(ip: str, port: int, max_kernels: int, cull_s: int):
    from traitlets.config import Config
    c = Config()
    c.Voila.ip = ip
    c.Voila.port = port
    c.Voila.open_browser = False
    c.Voila.port_retries = 0
    c.VoilaConfiguration.preheat_kernel = False
    c.VoilaConfiguration.prelaunch_hook = cap_hook(max_kernels)
    c.MappingKernelManager.cull_idle_timeout = cull_s
    c.MappingKernelManager.cull_interval = max(1, min(60, cull_s // 2))
    c.MappingKernelManager.cull_connected = False
    c.MappingKernelManager.cull_busy = False
    return c


def main(argv=None) -> int:
    import os
    opts, rest = _opts(list(sys.argv[1:] if argv is None else argv))
    # the offline-safe "nexora" template (Voila's lab template without the Font Awesome CDN
    # link), found through JUPYTER_PATH, which Voila reads when it starts
    from nexora_widgets.serve import voila_env, TEMPLATE
    os.environ.update(voila_env())
    from voila.app import Voila
    c = config(opts.get("ip", "127.0.0.1"), int(opts["port"]), int(opts.get("max-kernels", 8)),
               int(opts.get("cull-s", 120)))
    c.VoilaConfiguration.template = TEMPLATE
    Voila.launch_instance(argv=rest, config=c)
    return 0


if __name__ == "__main__":      # pragma: no cover
    raise SystemExit(main())
