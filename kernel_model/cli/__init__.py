"""The ``nexora`` command (also ``python -m kernel_model``).

    nexora --preset pcie4_bad --tp 4 --model llama-2-13b      # one plan, text summary
    nexora --preset pcie4_bad --tp 4 --json                   # Result.to_dict() as JSON
    nexora --preset pcie4_bad --tp 4 --json-compat            # + the old tool's JSON keys
    nexora --compare pcie4_bad,pcie5_good,nvlink --tp 4       # one row per preset
    nexora --preset nvlink --tp 8 --sweep --sweep-bw 50,150,300 > out.csv
    nexora --preset pcie4_bad --tp 4 --bench                  # simulate() ns/call, sweep rate
    nexora optimize ... / nexora validate [PATH]              # subcommands (commands.py)
    nexora --mode training ... / nexora --mode gemm ...       # other modes
    nexora --serve 8866                                       # the dashboard in Voila

Exit codes: 0 ok, 1 no feasible plan (optimize), 2 bad input (one line on stderr naming the
flag, the value and what is allowed). The default path imports numpy and the engine only
(no pandas, no widgets) so that ``--json`` answers fast.

Layout: ``common`` (errors, value types, bounds), ``parser`` (flags under the old headings),
``inference`` (one plan / compare / sweep / bench), ``legacy`` (the old closed form's knobs),
``tune`` (the old optimiser and its risk), ``compat`` (--json-compat), ``text`` (output),
``files`` (safe reads and writes), ``serve`` + ``voila_app`` (--serve), ``commands`` (the
subcommand registry), ``optimize_cmd`` (nexora optimize).
"""
from __future__ import annotations

import os
import sys

from .common import (BadInput, PROG, parse_list, flag_error, resolve_model,   # noqa: F401
                     resolve_hardware, FIELD_FLAG, Parser, make_parser)

_Parser = Parser            # the name training/cli.py and gemm.py import
from .parser import build_parser, DEFAULT_SWEEP_BW                            # noqa: F401
from .commands import SUBCOMMANDS, register                                   # noqa: F401
from .serve import serve_command, dashboard_path                              # noqa: F401


def _peek_mode(argv):
    for i, x in enumerate(argv):
        if x == "--mode" and i + 1 < len(argv):
            return argv[i + 1]
        if x.startswith("--mode="):
            return x.split("=", 1)[1]
    return None


def run_inference(argv) -> int:
    a = build_parser().parse_args(argv)
    if a.serve is not None:
        from .serve import run_serve
        return run_serve(a)
    from .inference import run_inference as run
    return run(a)


def main(argv=None) -> int:
    """Entry point of ``nexora``; returns the exit code (0 ok, 1 no plan, 2 bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        from . import commands
        if argv and argv[0] in commands.SUBCOMMANDS:
            return commands.run(argv[0], argv[1:])
        mode = _peek_mode(argv)
        if mode in ("training", "gemm"):
            from .commands import delegate
            return delegate(f"kernel_model.{mode}", argv, label=mode, BadInput=BadInput)
        return run_inference(argv)
    except BadInput as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except (ValueError, OverflowError) as e:
        print(f"{PROG}: error: {flag_error(e)}", file=sys.stderr)
        return 2
    except SystemExit as e:          # --help
        return e.code if isinstance(e.code, int) else 0
    except BrokenPipeError:          # e.g. `nexora --sweep ... | head`
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0


if __name__ == "__main__":      # pragma: no cover
    raise SystemExit(main())
