"""Reading and checking a measurements file, column by column (part of ``validate``).

``read_table(path_or_df) -> (Table, name)`` checks every cell with array operations (a
million rows in seconds) and raises ``ValueError`` naming the file, the line and the
column of the first bad cell, as reading row by row would; ``read_measurements`` gives
the same rows as dicts. Each inference row's precision (``weight_format`` column, ``kv_bits``
column or the notes; :func:`precision_rules`) and runtime are read here too; ``batch = 0``
is allowed only on saturation rows (``SATURATION_METRICS``).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._files import check_file, MAX_TABLE_BYTES
from .runtime import runtime_for_framework
# link names (kernel_model/validate_links.py), re-exported for the callers that import them here
from .validate_links import (PCIE_LINK_RE, link_for, fewer_links_for, nvlink_for,  # noqa: F401
                             network_split, _links, _multi_node)

# metric -> (result field, scale to the file's unit, unit); "_throughput": batch x output
# tokens x data-parallel replicas / e2e_s (a static batch's whole requests, all GPUs)
METRICS = {"e2e_latency_s": ("e2e_s", 1.0, "s"),
           "tpot_ms": ("tpot_s", 1e3, "ms"),
           "ttft_ms": ("ttft_s", 1e3, "ms"),
           "output_tokens_per_s": ("_throughput", 1.0, "tokens/s")}
TRAINING_METRICS = {"iteration_s": "s"}
# saturation throughput (batch = 0: the engine's own largest batch): the serving model's
SATURATION_METRICS = ("max_output_tokens_per_s",)
SATURATION_UNIT = "tokens/s"
SATURATION_STATUS = "saturation throughput: predicted by the serving model"
ALL_METRICS = tuple(METRICS) + tuple(TRAINING_METRICS) + SATURATION_METRICS
KV_BITS = (4, 8, 16)

COMMON_COLUMNS = ("id", "source", "gpu", "model", "metric", "value")
INFERENCE_COLUMNS = ("num_gpus", "interconnect", "weight_bits", "tp", "pp", "ep", "batch",
                     "prompt_tokens", "output_tokens")
TRAINING_COLUMNS = ("seq_len", "global_batch", "micro_batch", "dp", "tp", "pp", "recompute",
                    "sequence_parallel")
# columns where 0 is a value: a decode from an empty context (read as one prompt token)
ZERO_OK = ("prompt_tokens",)
PROMPT0_NOTE = "prompt_tokens 0 read as 1 (decode from an empty context)"
INFERENCE_INTS = ("num_gpus", "weight_bits", "tp", "pp", "ep", "batch", "prompt_tokens",
                  "output_tokens")
TRAINING_INTS = ("seq_len", "global_batch", "micro_batch", "dp", "tp", "pp")
MAX_INT = 10 ** 15         # largest whole-number cell (exact as a float; no overflow anywhere)
TRUE_WORDS = ("true", "1", "yes", "y", "t")
FALSE_WORDS = ("false", "0", "no", "n", "f", "")


def find_measurements(name: str = "measurements.csv") -> str | None:
    """Path of the published measurements file, or None: ``$NEXORA_MEASUREMENTS``, then the
    copy shipped in ``kernel_model/data/``, then ``../shared/data/`` next to the repository."""
    env = os.environ.get("NEXORA_MEASUREMENTS")
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(here)
    for p in ([env] if env and name == "measurements.csv" else []) + [
            os.path.join(here, "data", name),
            os.path.join(os.path.dirname(repo), "shared", "data", name)]:
        if p and os.path.isfile(p):
            return p
    return None


def _read_csv(name) -> pd.DataFrame:
    """Every cell as a string: pyarrow's reader when it takes the file (several times
    faster), else pandas' own (whose messages name what is wrong)."""
    try:
        import pyarrow  # noqa: F401
        df = pd.read_csv(name, dtype=str, keep_default_na=False, encoding="utf-8-sig",
                         engine="pyarrow")
        if len(df.columns) and not any(str(c).startswith(" ") for c in df.columns):
            return df
    except Exception:                           # any trouble: the reference reader decides
        pass
    return pd.read_csv(name, dtype=str, keep_default_na=False, skipinitialspace=True,
                       encoding="utf-8-sig")


def _read(path_or_df) -> tuple[pd.DataFrame, str]:
    """The file as a frame of stripped strings, and a name for error messages."""
    if isinstance(path_or_df, pd.DataFrame):
        df = path_or_df.copy()
        name = "<DataFrame>"
    elif path_or_df is None:
        raise ValueError("no measurements file given (see find_measurements())")
    else:
        name = os.fspath(path_or_df)
        if not os.path.lexists(name):
            raise ValueError(f"{name}: no such measurements file")
        check_file(name, MAX_TABLE_BYTES, "measurements file")
        try:
            df = _read_csv(name)
        except pd.errors.EmptyDataError:
            raise ValueError(f"{name}: the file is empty (expected a CSV header with columns "
                             f"{', '.join(COMMON_COLUMNS + INFERENCE_COLUMNS)})") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as e:
            msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            raise ValueError(f"{name}: not a readable CSV file ({msg})") from None
    df.columns = [str(c).strip() for c in df.columns]
    out = {}
    for c in df.columns:
        col = df[c]
        if not isinstance(path_or_df, (str, os.PathLike)):      # a DataFrame: any dtypes
            col = col.astype(object).where(pd.notna(col), "").map(str).astype(str)
        elif col.isna().any():                                  # short rows: missing cells
            col = col.fillna("")
        out[c] = col.str.strip()
    df = pd.DataFrame(out, columns=list(df.columns))
    return df.reset_index(drop=True), name


class _Errors:
    """Collects the first bad cell of each check; raises the one a row-by-row reader would
    have met first (lowest line, then the order the checks were made in)."""

    def __init__(self, name, df):
        self.name, self.df, self.found = name, df, []

    def where(self, i) -> str:
        rid = self.df.at[i, "id"] if "id" in self.df.columns else ""
        line = f"line {i + 2}" if self.name != "<DataFrame>" else f"row {i}"
        return f"{self.name}: {line}" + (f" (id {rid})" if rid else "")

    def add(self, bad: np.ndarray, order: int, message):
        """``bad``: boolean per row; ``message(i)`` the text for row i."""
        if bad.any():
            self.found.append((int(np.argmax(bad)), order, message))

    def raise_first(self):
        if self.found:
            i, _, message = min(self.found, key=lambda t: (t[0], t[1]))
            raise ValueError(f"{self.where(i)}: {message(i)}")


@dataclass
class Table:
    """A checked measurements file, column-wise: ``text`` (stripped strings), ``num``
    (floats of the numeric columns, NaN where a row has no such cell; ``kv_bits`` of every
    inference row), ``is_train``, ``weight_format`` (per row: the ``weight_format``
    column's format name, "" where not given) and ``notes`` (per row, "" without notes)."""
    text: pd.DataFrame
    num: dict
    is_train: np.ndarray
    weight_format: np.ndarray = None
    notes: np.ndarray = None
    link_note: np.ndarray = None     # per row: how a generic link name was read (link_for)

    def __len__(self):
        return len(self.text)


def _check_columns(df, name, is_train):
    missing = [c for c in COMMON_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {', '.join(missing)} "
                         f"(found: {', '.join(df.columns) or 'none'})")
    if len(df) == 0:
        raise ValueError(f"{name}: no measurement rows (only a header)")
    need = []
    if (~is_train).any():
        need += [c for c in INFERENCE_COLUMNS if c not in df.columns]
    if is_train.any():
        need += [c for c in TRAINING_COLUMNS if c not in df.columns and c not in need]
    if need:
        kind = "inference" if (~is_train).any() else "training"
        raise ValueError(f"{name}: missing column(s) {', '.join(need)} needed by its "
                         f"{kind} rows (found: {', '.join(df.columns)})")


def _floats(s: pd.Series) -> np.ndarray:
    """Cells as floats (NaN where not a number), as Python's ``float`` reads them."""
    a = s.to_numpy(dtype=object)
    try:
        return a.astype(float)
    except (ValueError, TypeError):
        out = np.full(len(a), np.nan)
        for i, v in enumerate(a):
            try:
                out[i] = float(v)
            except (ValueError, TypeError):
                pass
        return out


def read_table(path_or_df) -> tuple[Table, str]:
    """Read and check a measurements file (see the module docstring)."""
    df, name = _read(path_or_df)
    is_train = df["metric"].isin(tuple(TRAINING_METRICS)).to_numpy() if "metric" in df else None
    _check_columns(df, name, is_train)
    err = _Errors(name, df)
    parsed = {}

    def text(col, rows, order):
        err.add(rows & (df[col] == "").to_numpy(), order, lambda i: f"column {col!r} is empty")

    def number(col, rows, whole, order):
        if col not in parsed:
            parsed[col] = _floats(df[col])
        x = parsed[col]
        low = 0 if col in ZERO_OK else 1
        with np.errstate(invalid="ignore"):
            if whole:
                ok = np.isfinite(x) & (x == np.floor(x)) & (x >= low) & (x <= MAX_INT)
                allowed = f"a whole number >= {low} (at most {MAX_INT:.0e})"
            else:
                ok = np.isfinite(x) & (x > 0)
                allowed = "a number > 0 (finite)"
        err.add(rows & ~ok, order, lambda i: f"column {col!r} must be {allowed}, got "
                                             f"{df.at[i, col]!r}")
        return np.where(rows, x, np.nan)

    every = np.ones(len(df), dtype=bool)
    inf = ~is_train
    for k, c in enumerate(("id", "source", "gpu", "model", "metric")):
        text(c, every, k)
    num = {"value": number("value", every, False, 5)}
    for c in dict.fromkeys(TRAINING_INTS + INFERENCE_INTS):
        num[c] = np.full(len(df), np.nan)
    sat0 = inf & df["metric"].str.strip().str.lower().isin(SATURATION_METRICS).to_numpy() \
        & df["batch"].isin(("0", "0.0")).to_numpy() if inf.any() else inf
    for k, c in enumerate(INFERENCE_INTS):
        if inf.any():
            rows = inf & ~sat0 if c == "batch" else inf     # batch 0: saturation rows only
            num[c] = np.where(rows, number(c, rows, True, 10 + k), num[c])
    if sat0.any():
        num["batch"][sat0] = 0.0
    for k, c in enumerate(TRAINING_INTS):
        if is_train.any():
            num[c] = np.where(is_train, number(c, is_train, True, 10 + k), num[c])
    if is_train.any():
        sp = df["sequence_parallel"].str.lower()
        err.add(is_train & ~sp.isin(TRUE_WORDS + FALSE_WORDS).to_numpy(), 30,
                lambda i: f"column 'sequence_parallel' must be true or false, got "
                          f"{df.at[i, 'sequence_parallel']!r}")
        for k, c in enumerate(("layers", "hidden", "heads")):
            if c in df.columns:
                num[c] = number(c, is_train & (df[c] != "").to_numpy(), True, 31 + k)
    if inf.any():
        text("interconnect", inf, 30)
    fmt, notes = _precision(df, inf, num, err, parsed)
    err.raise_first()
    link_note = _links(df, inf, notes, num)
    _multi_node(df, inf, num, notes, link_note)
    _empty_prompts(num, inf, link_note)
    _metric_spellings(df, num, link_note)
    return Table(text=df, num=num, is_train=is_train, weight_format=fmt, notes=notes,
                 link_note=link_note), name


# other spellings of a metric -> (the metric, factor to its unit); ITL is TPOT's other name
METRIC_SPELLINGS = {"tpot_s": ("tpot_ms", 1e3), "itl_ms": ("tpot_ms", 1.0),
                    "itl_s": ("tpot_ms", 1e3), "ttft_s": ("ttft_ms", 1e3),
                    "e2e_latency_ms": ("e2e_latency_s", 1e-3), "e2e_s": ("e2e_latency_s", 1.0),
                    "e2e_ms": ("e2e_latency_s", 1e-3)}


def _metric_spellings(df, num, link_note) -> None:
    """Read a metric written in another case, unit or name (``TPOT_ms``, ``tpot_s``,
    ``itl_ms``, ``e2e_latency_ms``) as the file format's own, its value converted; the row's
    note says so. Any other unknown metric stays the row's error."""
    codes, uniq = pd.factorize(df["metric"].astype(str))     # a handful of names
    known = set(ALL_METRICS)
    col = df.columns.get_loc("metric")
    for c, raw in enumerate(uniq):
        k = raw.strip().lower()
        if k in METRIC_SPELLINGS:
            name, factor = METRIC_SPELLINGS[k]
            why = f"metric {raw!r} read as {name}" + (f" (value x {factor:g})" if factor != 1 else "")
        elif k in known and k != raw:
            name, factor, why = k, 1.0, ""
        else:
            continue
        for i in np.flatnonzero(codes == c):
            num["value"][i] = num["value"][i] * factor
            df.iat[i, col] = name
            if why:
                link_note[i] = f"{link_note[i]}; {why}" if link_note[i] else why


def _empty_prompts(num, inf, link_note) -> None:
    """A decode measured from an empty context (llama-bench ``tg128``: ``prompt_tokens`` 0)
    starts from one token, as the engine needs one to decode from; the row says so."""
    p0 = inf & (num["prompt_tokens"] == 0)
    if p0.any():
        num["prompt_tokens"] = np.where(p0, 1.0, num["prompt_tokens"])
        link_note[p0] = [f"{n}; {PROMPT0_NOTE}" if n else PROMPT0_NOTE for n in link_note[p0]]


def _precision(df, inf, num, err, parsed):
    """(weight_format column per row, notes per row); ``num["kv_bits"]`` set for the
    inference rows (see :func:`precision_rules`); bad cells added to ``err``."""
    from .formats import get_format, kv_bits_from_notes
    n = len(df)
    notes = (df["notes"].to_numpy(dtype=object) if "notes" in df.columns
             else np.full(n, "", dtype=object))
    fmt = np.full(n, "", dtype=object)
    if "weight_format" in df.columns:
        given = df["weight_format"].to_numpy(dtype=object)
        rows = np.flatnonzero(inf & (given != ""))
        codes, uniq = pd.factorize(given[rows])
        names, bad = [], np.zeros(n, dtype=bool)
        problems = {}
        for j, u in enumerate(uniq):
            try:
                names.append(get_format(u).name)
            except ValueError as e:
                names.append("")
                problems[u] = str(e)
                bad[rows[codes == j]] = True
        if len(rows):
            fmt[rows] = np.array(names, dtype=object)[codes]
        err.add(bad, 40, lambda i: f"column 'weight_format': {problems[given[i]]}")
    kv = np.full(n, np.nan)
    has = inf & (df["kv_bits"] != "").to_numpy() if "kv_bits" in df.columns else np.zeros(n, bool)
    if has.any():
        x = parsed["kv_bits"] = _floats(df["kv_bits"])
        err.add(has & ~np.isin(x, KV_BITS), 41,
                lambda i: f"column 'kv_bits' must be one of 4, 8, 16, got {df.at[i, 'kv_bits']!r}")
        kv[has] = x[has]
    rest = np.flatnonzero(inf & ~has)
    if len(rest):
        codes, uniq = pd.factorize(notes[rest])
        kv[rest] = np.array([kv_bits_from_notes(u)[0] for u in uniq], dtype=float)[codes]
    num["kv_bits"] = kv
    return fmt, notes


def precision_rules() -> str:
    """How a measurements row's precision is read (documented rules, in order)."""
    return ("weight format: the 'weight_format' column if present (a name of "
            "kernel_model.formats.FORMATS or an alias), else the notes' 'weight format: X' "
            "field, else the first format the notes name (NVFP4, MXFP4, AWQ, GPTQ, FP8, INT8, "
            "BF16, FP16), else the closest to weight_bits (16: fp16; 8: fp8 on GPUs with FP8 "
            "tensor cores, int8 weight-only elsewhere; 4: int4-awq); a named format must have "
            "weight_bits bits. KV cache: the 'kv_bits' column, else 8 where the notes name an "
            "FP8 KV cache, else 16.")


def runtimes_of(tab: Table) -> tuple[np.ndarray, np.ndarray]:
    """(runtime, reason) per row: the ``runtime`` column, else from ``framework``."""
    df = tab.text
    fw = df["framework"] if "framework" in df.columns else pd.Series("", index=df.index)
    given = df["runtime"] if "runtime" in df.columns else pd.Series("", index=df.index)
    codes, uniq = pd.factorize(fw)
    pairs = [runtime_for_framework(u) for u in uniq]
    rt = np.array([p[0] for p in pairs] or ["compiled"], dtype=object)[codes]
    why = np.array([p[1] for p in pairs] or [""], dtype=object)[codes]
    has = (given != "").to_numpy()
    rt[has] = given.to_numpy()[has]
    why[has] = "runtime column"
    return rt, why


def row_dict(tab: Table, i: int, runtime=None) -> dict:
    """Row ``i`` of a checked table as the dict ``read_measurements`` gives."""
    df, num = tab.text, tab.num
    r = {"line": i + 2, "id": df.at[i, "id"], "source": df.at[i, "source"],
         "framework": df.at[i, "framework"] if "framework" in df.columns else "",
         "gpu": df.at[i, "gpu"], "model": df.at[i, "model"], "metric": df.at[i, "metric"],
         "value": float(num["value"][i])}
    if tab.is_train[i]:
        r["kind"] = "training"
        for c in TRAINING_INTS:
            r[c] = int(num[c][i])
        r["recompute"] = df.at[i, "recompute"] or "none"
        r["sequence_parallel"] = df.at[i, "sequence_parallel"].lower() in TRUE_WORDS
        for c in ("layers", "hidden", "heads"):
            if c in num and math.isfinite(num[c][i]):
                r[c] = int(num[c][i])
    else:
        r["kind"] = "inference"
        for c in INFERENCE_INTS:
            r[c] = int(num[c][i])
        r["interconnect"] = df.at[i, "interconnect"]
        r["notes"], r["weight_format"] = tab.notes[i], tab.weight_format[i]
        r["kv_bits"] = int(num["kv_bits"][i])
        rt, why = runtime if runtime is not None else runtimes_of(tab)
        r["runtime"], r["runtime_reason"] = rt[i], why[i]
    return r


def read_measurements(path_or_df) -> list[dict]:
    """Parse and check a measurements file; one dict per row (numbers converted).

    Raises ``ValueError`` naming the file, line and column for missing columns,
    non-numeric, non-finite or non-positive numbers (a batch of 0 only on saturation rows),
    empty required fields, an unknown ``weight_format`` and a ``kv_bits`` other than 4, 8,
    16, and for a file without rows.
    """
    tab, _ = read_table(path_or_df)
    rts = runtimes_of(tab)
    return [row_dict(tab, i, rts) for i in range(len(tab))]
