"""Sweeps bigger than one machine: the grid in chunks on a Dask cluster.

    import kernel_model as km
    from dask.distributed import Client
    client = Client("tcp://scheduler:8786")            # or Client() for local processes
    df = km.sweep(grid, client=client)                  # pandas DataFrame, rows in grid order
    ddf = km.sweep(grid, client=client, lazy=True)      # dask.dataframe (bigger than memory)
    km.sweep(grid, scheduler="tcp://scheduler:8786", to_parquet="out.parquet")

The grid is cut into blocks of about ``chunk_rows`` scenarios, each a contiguous run of rows
in ``itertools.product`` order (some leading axes fixed, one axis a range, the rest whole).
Each worker runs the same stacked evaluation as a local ``sweep`` on its block, with the key
columns' categories of the whole grid, so the blocks put together equal the local sweep row
for row. A block is one Dask task with its own key: when a worker dies, Dask runs the task
again elsewhere and the result still holds each block exactly once.

Nothing here is imported unless a client, a scheduler address or ``lazy=True`` is given,
and dask itself only then (``pip install nexora-widgets[dask]``).
"""
from __future__ import annotations

import math
import os
import sys

import numpy as np


def split(items, rows: int):
    """Blocks of the normalised grid ``items``: a list of (block items, offsets, start row,
    row count), ``offsets`` giving where each restricted axis starts in the whole grid."""
    from .stack import chunks
    keys = [k for k, _ in items]
    vals = dict(items)
    shape = tuple(len(vals[k]) for k in keys)
    out = []
    for sl in chunks(shape, max(1, int(rows))):
        sub, offs = [], {}
        for k, s, n in zip(keys, sl, shape):
            a, b, _ = s.indices(n)
            sub.append((k, vals[k][a:b]))
            if (a, b) != (0, n):
                offs[k] = a
        start = int(np.ravel_multi_index(tuple(s.indices(n)[0] for s, n in zip(sl, shape)), shape)) \
            if shape else 0
        out.append((sub, offs, start, math.prod(len(v) for _, v in sub)))
    return out


def run_block(block, full, options, path=None, drop=False):
    """One block on a worker: the sweep's DataFrame indexed by global row, invalid rows
    dropped with ``drop`` (or, with ``path``, written to ``path/part-<start>.parquet``;
    returns the row count)."""
    from .sweep import sweep_block
    sub, offs, start, n = block
    df = sweep_block(sub, full=full, progress=False, **options)
    df.index = np.arange(start, start + n)
    if drop:
        df = df.loc[df["valid"].to_numpy()]
    if path is not None:
        df.to_parquet(os.path.join(path, f"part-{start:012d}.parquet"))
        return len(df)
    return df


def _client(client, scheduler):
    if client is not None:
        return client, False
    if scheduler is not None:
        try:
            from distributed import Client
        except ImportError:
            raise ValueError("scheduler=... needs dask.distributed: pip install "
                             "'nexora-widgets[dask]'") from None
        try:
            return Client(scheduler, timeout="10s"), True
        except (OSError, TimeoutError) as e:
            raise ValueError(f"scheduler={scheduler!r}: cannot connect ({e})") from None
    return None, False


def sweep_distributed(grid, *, client=None, scheduler=None, lazy=False, invalid="mark",
                      ttft_breakdown=False, progress=None, chunk=None, compact=False,
                      to_parquet=None, chunk_rows=1_000_000):
    """``sweep`` on a Dask cluster (see the module doc); the arguments are ``sweep``'s."""
    from .sweep import normalise, CHUNK, _finish
    from .rules import check_int
    chunk_rows = check_int("chunk_rows", chunk_rows, 1, 10 ** 9)
    items = normalise(grid)
    keys = [k for k, _ in items]
    full = dict(items)
    blocks = split(items, chunk_rows)
    drop = invalid == "drop"
    options = dict(ttft_breakdown=ttft_breakdown, chunk=chunk or CHUNK, compact=compact)
    if to_parquet is not None:
        from .sweep import _check_new_path
        _check_new_path(to_parquet)
    cl, own = _client(client, scheduler)
    try:
        if cl is not None:
            print(f"Dask dashboard: {cl.dashboard_link}", file=sys.stderr)
        if lazy:
            return _lazy(blocks, full, options, to_parquet, drop, cl)
        if cl is None:
            raise ValueError("client=... or scheduler=... is needed (or lazy=True)")
        if to_parquet is not None:
            os.makedirs(to_parquet)
            counts = _run(cl, blocks, full, options, progress, str(to_parquet), drop)
            print(f"wrote {sum(counts):,} rows in {len(counts)} parts to {to_parquet}",
                  file=sys.stderr)
            return str(to_parquet)
        parts = _run(cl, blocks, full, options, progress, None, drop)
        df = _concat(parts)
        if invalid == "raise":
            _finish(df, keys, full, "raise")
        df = _finish(df, keys, full, "mark")
        if drop:
            df.attrs["invalid"] = math.prod(len(v) for v in full.values()) - len(df)
        return df
    finally:
        if own:
            cl.close()


def _run(cl, blocks, full, options, progress, path, drop):
    """Submit every block (one task each), show progress as they finish, results in order."""
    from distributed import as_completed
    from .sweep import _Progress
    total = sum(b[3] for b in blocks)
    import uuid
    tag = uuid.uuid4().hex[:12]
    futs = [cl.submit(run_block, b, full, options, path, drop, key=f"nexora-sweep-{tag}-{b[2]}",
                      retries=2) for b in blocks]
    index = {f.key: i for i, f in enumerate(futs)}
    out = [None] * len(futs)
    prog = _Progress(total, True if progress is None else progress)
    try:
        for fut in as_completed(futs):
            i = index[fut.key]
            out[i] = fut.result()
            prog.update(blocks[i][3])
    finally:
        prog.close()
    return out


def _concat(parts):
    import pandas as pd
    from pandas.api.types import union_categoricals
    errors = union_categoricals([p["error"] for p in parts], sort_categories=True)
    df = pd.concat([p.drop(columns="error") for p in parts], ignore_index=True)
    cols = list(parts[0].columns)
    df.insert(cols.index("error"), "error", pd.Categorical(errors))
    return df


def _lazy(blocks, full, options, to_parquet, drop, cl=None):
    """A dask.dataframe over the blocks (``error``: a categorical whose categories differ per
    block, "unknown" to dask); ``to_parquet`` writes it there and returns the path."""
    import dask.dataframe as dd
    from dask.dataframe.utils import clear_known_categories
    from .sweep import sweep_block

    meta = sweep_block([(k, v[:1]) for k, v in blocks[0][0]], full=full, progress=False,
                       **options).iloc[:0]
    meta = clear_known_categories(meta, cols=["error"])
    divisions = None
    if not drop:
        divisions = tuple(b[2] for b in blocks) + (blocks[-1][2] + blocks[-1][3] - 1,)
    ddf = dd.from_map(run_block, blocks, full=full, options=options, drop=drop, meta=meta,
                      divisions=divisions, enforce_metadata=False)
    if to_parquet is not None:                      # written by this client's cluster
        ddf.to_parquet(str(to_parquet), compute_kwargs={"scheduler": cl} if cl is not None else None)
        return str(to_parquet)
    return ddf


# ---- `nexora sweep` ----------------------------------------------------------------------------
def add_sweep_parser(subparsers):
    """Add ``sweep`` to an argparse subparsers object (``nexora sweep ...``)."""
    p = subparsers.add_parser(
        "sweep", help="closed form over a grid, optionally on a Dask cluster",
        description="Every combination of the --vary values (other fields at their "
                    "defaults). With --scheduler the grid runs on a Dask cluster in chunks.")
    p.add_argument("--vary", action="append", default=[], metavar="FIELD=V1,V2,...",
                   help="a grid axis, e.g. --vary model=llama-2-7b,llama-2-70b --vary tp=1,2,4")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="Dask scheduler, e.g. tcp://host:8786 (start it with `dask scheduler`)")
    p.add_argument("--chunk-rows", type=int, default=1_000_000, help="scenarios per Dask task")
    p.add_argument("--parquet", default=None, metavar="PATH", help="write the table there (new path)")
    p.add_argument("--compact", action="store_true", help="float32 metrics, categorical keys")
    p.add_argument("--json", action="store_true", help="JSON records on stdout (else CSV)")
    p.add_argument("--invalid", default="mark", choices=("mark", "drop"))
    p.set_defaults(run=run_sweep)
    return p


_WORDS = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}


def parse_axis(item: str):
    """``FIELD=V1,V2`` -> (field, [values]) with each value in the field's type."""
    from . import rules
    from .sweep import LINK_AXES, sweep_keys
    from .hardware import closest
    if "=" not in item:
        raise ValueError(f"--vary {item!r}: expected FIELD=V1,V2,... e.g. --vary tp=1,2,4")
    field, text = (s.strip() for s in item.split("=", 1))
    field = field.replace("-", "_")
    if field not in sweep_keys():
        near = closest(field, sweep_keys())
        raise ValueError(f"--vary: field {field!r} is unknown"
                         + (f"; closest: {', '.join(near)}" if near else ""))
    out = []
    for x in (s.strip() for s in text.split(",")):
        try:
            if field in rules.INT_BOUNDS or field in rules.BIT_FIELDS or field in rules.OPTIONAL_INT_BOUNDS:
                out.append(None if x.lower() == "none" and field in rules.OPTIONAL_INT_BOUNDS else int(x))
            elif field in rules.REAL_BOUNDS or field in LINK_AXES:
                out.append(float(x))
            elif field in rules.BOOL_FIELDS:
                out.append(_WORDS[x.lower()])
            elif field == "efficiency":
                raise ValueError("--vary efficiency is not supported on the command line")
            else:
                out.append(x)
        except (KeyError, ValueError) as e:
            if "not supported" in str(e):
                raise
            raise ValueError(f"--vary {field}: {x!r} is not a valid value") from None
    return field, out


def run_sweep(args, out=None) -> int:
    """Run ``nexora sweep`` from parsed ``args``; raises ValueError on bad input (the
    caller prints one line and exits 2)."""
    from .sweep import sweep
    out = out or sys.stdout
    grid = dict(parse_axis(item) for item in args.vary)
    if args.parquet is not None and os.path.exists(args.parquet):
        raise ValueError(f"--parquet {args.parquet}: already exists (nothing is overwritten)")
    res = sweep(grid, scheduler=args.scheduler, chunk_rows=args.chunk_rows, compact=args.compact,
                invalid=args.invalid, to_parquet=args.parquet, progress=None)
    if args.parquet is not None:
        print(f"wrote {args.parquet}", file=out)
        return 0
    if args.json:
        out.write(res.to_json(orient="records") + "\n")
    else:
        res.to_csv(out, index=False)
    return 0


def cli_main(argv=None) -> int:
    """``nexora sweep ...`` as a whole command: 0 on success, 2 with one line on stderr for
    bad input (wired in ``kernel_model.cli.main`` as ``argv[0] == "sweep"``)."""
    import argparse

    class _Parser(argparse.ArgumentParser):
        def error(self, message):
            raise ValueError(message)

    parser = _Parser(prog="nexora", allow_abbrev=False)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    add_sweep_parser(sub)
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(["sweep"] + argv)
        return args.run(args)
    except (ValueError, OSError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"nexora sweep: error: {msg}", file=sys.stderr)
        return 2
    except SystemExit as e:          # --help
        return e.code if isinstance(e.code, int) else 0
