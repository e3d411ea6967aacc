"""Subcommands of ``nexora``: the one place that lists them.

Each entry is ``name: (module, one-line summary)``. The module is imported only when the
subcommand runs and must define ``cli_main(argv: list[str]) -> int`` (or name another
function as ``"module:function"``) returning the exit code (raise
``kernel_model.cli.common.BadInput`` or ``ValueError`` for bad input: one line, exit 2).
``kernel_model.cli.common.make_parser`` gives a parser with the same error behaviour.

To add one from another module (e.g. ``nexora serving``), add a line here or call
``register("serving", "kernel_model.serving.cli", "...")`` before ``main`` runs. ``nexora
--help`` lists every entry.
"""
from __future__ import annotations

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "optimize": ("kernel_model.cli.optimize_cmd",
                 "best parallel plan (tp x pp x ep x batch x bits x overlap) for a model on N GPUs"),
    "validate": ("kernel_model.validate",
                 "measured vs predicted for a measurements or collectives CSV (default: the shipped one)"),
    "serving": ("kernel_model.serving.cli:cli_serving",
                "many requests: continuous batching, latency percentiles, goodput under an SLO"),
    "sweep": ("kernel_model.distributed",
              "a grid in one vectorised pass, or on a Dask cluster (--scheduler ADDRESS)"),
    "export": ("nexora_widgets.export",
               "a notebook as one self-contained HTML page that renders offline (lectures)"),
    "capacity": ("kernel_model.serving.cli:cli_capacity",
                 "highest request rate meeting an SLO; --plan searches TP/PP/replicas"),
}


def register(name: str, module: str, summary: str) -> None:
    """Add (or replace) subcommand ``name`` run by ``module.cli_main``."""
    if not name or name.startswith("-") or " " in name:
        raise ValueError(f"subcommand name {name!r} is not allowed: a word without spaces")
    SUBCOMMANDS[name] = (module, summary)


def run(name: str, argv: list[str]) -> int:
    from .common import BadInput
    module = SUBCOMMANDS[name][0]
    return delegate(module, argv, label=name, BadInput=BadInput)


def delegate(module: str, argv, label: str, BadInput) -> int:
    """Import ``module`` and return ``module.cli_main(argv)``; a missing module is bad input."""
    import importlib
    module, _, func = module.partition(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name == module or module.startswith(f"{e.name}."):
            raise BadInput(f"'{label}' is not available: {module} is missing from this "
                           f"installation") from None
        raise
    fn = getattr(mod, func or "cli_main", None)
    if fn is None:
        raise BadInput(f"'{label}' is not available: {module}.{func or 'cli_main'} is missing")
    return int(fn(list(argv)) or 0)
