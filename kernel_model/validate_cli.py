"""``nexora validate`` (part of ``validate``; reachable as ``kernel_model.validate.cli_main``).

``nexora validate [PATH.csv] [--csv OUT] [--worst N] [--calibration FILE.json] [--fit
[--params NAME,...] [--save-profile OUT.json]] [--force]``: prints the summary and the
worst rows of a measurements file (the full per-row table goes to ``--csv``), or the report
of a collectives file (``kernel_model.validate_collectives``).
"""
from __future__ import annotations

import argparse
import os
import sys


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise ValueError(message)           # cli_main adds the "nexora validate: error: " prefix


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="nexora validate",
                description="Simulate every row of a measurements CSV and print measured vs "
                            "predicted, the signed error and the MAPE per source / metric.")
    p.add_argument("path", nargs="?",
                   help="measurements CSV (format of shared/data/measurements.csv; default: the "
                        "copy shipped in kernel_model/data/measurements.csv)")
    p.add_argument("--csv", metavar="OUT", help="write the full per-row table to OUT (a new "
                                                 "file; the report shows the summary and the "
                                                 "worst rows)")
    p.add_argument("--worst", metavar="N", type=int, default=10,
                   help="how many of the worst rows (largest |error|) to print (default 10)")
    p.add_argument("--calibration", metavar="FILE.json",
                   help="calibration profile to apply (written by --fit --save-profile)")
    p.add_argument("--fit", action="store_true",
                   help="fit the calibration parameters to this file first, print them, "
                        "then validate with the fitted values")
    p.add_argument("--save-profile", metavar="OUT.json",
                   help="with --fit: save the fitted calibration profile (a new file)")
    p.add_argument("--params", metavar="NAME,...",
                   help="with --fit: the calibration fields to fit (default: calibrate.DEFAULT_PARAMS); "
                        "field@family fits one GPU family, e.g. launch_overhead_s@hopper; "
                        "field@runtime one serving runtime, e.g. launch_overhead_s@vllm")
    p.add_argument("--force", action="store_true",
                   help="let --csv / --save-profile replace an existing file (never the input)")
    return p


def _check_files(a) -> None:
    """Inputs: regular files under a size limit; outputs: not an input, not an existing file
    unless --force (kernel_model.cli.files). Raises ValueError (one line)."""
    from .cli.files import check_input_file, check_output, MAX_CSV_BYTES, MAX_CONFIG_BYTES
    from .cli.common import BadInput
    try:
        check_input_file("path", a.path, MAX_CSV_BYTES)
        if a.calibration:
            check_input_file("--calibration", a.calibration, MAX_CONFIG_BYTES)
        inputs = [a.path, a.calibration]
        outs = [("--csv", a.csv), ("--save-profile", a.save_profile)]
        for flag, out in outs:
            if out:
                check_output(flag, out, a.force, inputs)
        if a.csv and a.save_profile and os.path.abspath(a.csv) == os.path.abspath(a.save_profile):
            raise BadInput(f"--csv and --save-profile are the same file {a.csv!r}; give two paths")
    except BadInput as e:
        raise ValueError(str(e)) from None


def _announce(path) -> None:
    """On a terminal, say that a big file is being read (the bar starts after reading)."""
    try:
        size = os.path.getsize(path)
    except OSError:
        return
    if size > 8 * 2**20 and sys.stderr.isatty():
        print(f"nexora validate: reading {path} ({size / 2**20:.0f} MiB) ...", file=sys.stderr,
              flush=True)


def _fit(a, cal):
    """--fit: the fitted calibration (printed; saved with --save-profile)."""
    from .calibrate import fit, save_profile, format_fit
    from .cli.files import atomic_path
    kw = {}
    if a.params:
        kw["params"] = tuple(x.strip() for x in a.params.split(",") if x.strip())
    cal, rep = fit(a.path, start=cal, **kw)
    print(format_fit(rep))
    print()
    if a.save_profile:
        with atomic_path(a.save_profile, "--save-profile") as tmp:
            save_profile(cal, tmp, rep)
        print(f"calibration profile written to {a.save_profile}\n")
    return cal


def _run(a):
    """Validate ``a.path`` and print its report; the table."""
    from . import validate as V
    if V._is_collectives(a.path):
        if a.fit or a.calibration:
            raise ValueError("--fit/--calibration apply to inference measurements; a "
                             "collectives file validates the collective model "
                             "(tools/fit_collectives.py refits it)")
        from . import validate_collectives as VC
        df = VC.validate_collectives(V._read(a.path)[0], a.path)
        print(VC.report(df))
        return df
    cal = None
    if a.calibration:
        from .calibrate import load_profile
        cal = load_profile(a.calibration)
    if a.fit:
        cal = _fit(a, cal)
    _announce(a.path)
    df = V.validate(a.path, calibration=cal, progress=None)
    print(V.report(df, calibration=cal, worst=a.worst))
    return df


def cli_main(argv=None) -> int:
    """``nexora validate [PATH.csv] [--csv OUT] [--worst N] [--calibration FILE.json] [--fit
    [--params NAME,...] [--save-profile OUT.json]] [--force]``. Without PATH it validates the
    shipped measurements file (and says so). Returns the exit code (0 ok, 2 bad input)."""
    from .cli.common import BadInput
    from .validate_io import find_measurements
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        a = _parser().parse_args(argv)
        if a.path is None:
            a.path = find_measurements()
            if a.path is None:
                raise ValueError("no PATH given and no shipped measurements.csv found; give the "
                                 "path of a measurements CSV")
            print(f"nexora validate: no PATH given: using the shipped {a.path}", file=sys.stderr)
        if a.save_profile and not a.fit:
            raise ValueError("--save-profile needs --fit")
        if a.params and not a.fit:
            raise ValueError("--params needs --fit")
        if a.worst < 0:
            raise ValueError(f"--worst {a.worst}: must be a whole number >= 0")
        _check_files(a)
        df = _run(a)
        if a.csv:
            from .cli.files import atomic_path
            with atomic_path(a.csv, "--csv") as tmp:
                df.to_csv(tmp, index=False)
            print(f"\ntable written to {a.csv}")
    except SystemExit as e:                 # --help
        return int(e.code or 0)
    except (ValueError, BadInput) as e:
        print(f"nexora validate: error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    return 0
