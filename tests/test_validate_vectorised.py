"""Issue 12 item 7 (and 15 for CSV cells): ``validate`` is vectorised, equals one
``simulate()`` per row, shows progress, and prints a summary plus the worst rows."""
import numpy as np
import pandas as pd
import pytest

import kernel_model as km
from kernel_model import validate as V
from kernel_model.scenario import Scenario

SHIPPED = [p for p in (V.find_measurements(), V.find_measurements("holdout.csv")) if p]


def per_row(path):
    """Reference: a Scenario and a simulate() per row (what validate did before)."""
    out = {}
    for r in V.read_measurements(path):
        if r["kind"] != "inference" or r["metric"] not in V.METRICS:
            continue
        try:
            sc, note = V.scenario_for(r)
        except ValueError as e:
            out[r["id"]] = (f"cannot simulate: {e}", np.nan, "")
            continue
        key, scale, _ = V.METRICS[r["metric"]]
        out[r["id"]] = ("ok", getattr(km.simulate(sc), key) * scale, note)
    return out


@pytest.mark.parametrize("path", SHIPPED)
def test_every_shipped_row_equals_simulate_to_1e9(path):
    df = V.validate(path).set_index("id")
    ref = per_row(path)
    assert len(ref) >= 20
    for rid, (status, pred, note) in ref.items():
        assert df.at[rid, "status"] == status
        assert df.at[rid, "note"] == note
        if status == "ok":
            assert df.at[rid, "predicted"] == pytest.approx(pred, rel=1e-9)


def _random_file(tmp_path, n=400, seed=0):
    """Rows from the shipped file with random plans, presets, metrics and runtimes, many
    of them impossible, so every mapping branch is met."""
    rng = np.random.default_rng(seed)
    raw = pd.read_csv(V.find_measurements(), dtype=str, keep_default_na=False)
    raw = raw[raw["metric"] != "iteration_s"]
    df = raw.sample(n, replace=True, random_state=seed).reset_index(drop=True)
    df["id"] = [f"x{i}" for i in range(n)]
    tp = rng.choice([1, 2, 3, 4, 8, 16], n)
    pp = rng.choice([1, 1, 2, 4, 100], n)
    df["tp"], df["pp"] = tp.astype(str), pp.astype(str)
    df["num_gpus"] = np.maximum(tp * pp * rng.choice([1, 1, 2, 0], n), 1).astype(str)
    df["batch"] = rng.integers(1, 64, n).astype(str)
    df["prompt_tokens"] = rng.integers(1, 4000, n).astype(str)
    df["output_tokens"] = rng.integers(1, 500, n).astype(str)
    u = rng.random(n)
    df.loc[u < 0.05, "gpu"] = "a100-sxm-80g"
    df.loc[(u > 0.05) & (u < 0.1), "metric"] = "tpot_us"
    df.loc[(u > 0.1) & (u < 0.2), "model"] = "mixtral-8x7b"
    df.loc[(u > 0.1) & (u < 0.15), "ep"] = "2"
    df.loc[(u > 0.2) & (u < 0.3), "interconnect"] = "none"
    df["runtime"] = np.where(u > 0.9, "eager_server", "")
    p = tmp_path / "rand.csv"
    df.to_csv(p, index=False)
    return p


@pytest.mark.parametrize("seed", [0, 1])
def test_random_plans_equal_the_row_by_row_mapping(tmp_path, seed):
    p = _random_file(tmp_path, seed=seed)
    df = V.validate(p).set_index("id")
    ref = per_row(p)
    assert sum(s == "ok" for s, _, _ in ref.values()) > 50
    assert sum(s != "ok" for s, _, _ in ref.values()) > 50
    for rid, (status, pred, note) in ref.items():
        assert (df.at[rid, "status"], df.at[rid, "note"]) == (status, note)
        if status == "ok":
            assert df.at[rid, "predicted"] == pytest.approx(pred, rel=1e-9)
    bad_metric = df[df["metric"] == "tpot_us"]
    assert len(bad_metric) and bad_metric["status"].str.startswith("unknown metric").all()


def test_scenarios_are_built_per_group_not_per_row(tmp_path, monkeypatch):
    """20,000 rows of 102 distinct plans: a few Scenario objects per group, not one per row
    (the row-by-row code built 20,000 and took minutes for a million)."""
    raw = pd.read_csv(V.find_measurements(), dtype=str, keep_default_na=False)
    big = pd.concat([raw] * (20_000 // len(raw) + 1), ignore_index=True).iloc[:20_000]
    p = tmp_path / "big.csv"
    big.to_csv(p, index=False)
    built = []
    orig = Scenario.__post_init__
    monkeypatch.setattr(Scenario, "__post_init__", lambda self: (built.append(1), orig(self)))
    df = V.validate(p, progress=False)
    assert len(df) == 20_000 and (df["status"] == "ok").sum() > 15_000
    assert len(built) < 1_000
    one = V.validate(V.find_measurements()).set_index("id")["predicted"]
    again = df.groupby("id")["predicted"].agg(["min", "max"])
    ok = one.notna()
    assert np.array_equal(again.loc[one.index[ok], "min"], one[ok])     # every copy identical
    assert np.array_equal(again.loc[one.index[ok], "max"], one[ok])


def test_chunked_closed_form_equals_one_pass():
    prep = V.prepare(V.find_measurements())
    whole = V.predict_arrays(prep.P, prep.metrics, chunk=10 ** 6)
    pieces = V.predict_arrays(prep.P, prep.metrics, chunk=7)
    assert np.array_equal(whole, pieces)


def test_progress_reports_every_stage(tmp_path, monkeypatch):
    import kernel_model.progress as progress
    seen = []

    class Bar:
        def __init__(self, total, desc="", unit=""):
            seen.append(("total", total))

        def update(self, n):
            seen.append(("update", n))

        def close(self):
            seen.append(("close", 0))
    monkeypatch.setattr(progress, "progress_bar", Bar)
    path = V.find_measurements()
    n = len(pd.read_csv(path))
    V.validate(path, progress=True)
    assert seen[0] == ("total", 3 * n) and seen[-1] == ("close", 0)
    assert sum(v for k, v in seen if k == "update") == 3 * n          # read, mapped, closed form
    seen.clear()
    V.validate(path, progress=False)
    assert seen == []


@pytest.mark.parametrize("cell,col,match", [
    ("nan", "value", r"column 'value' must be a number > 0 \(finite\), got 'nan'"),
    ("inf", "value", r"column 'value' must be a number > 0 \(finite\), got 'inf'"),
    ("1e20", "batch", r"column 'batch' must be a whole number >= 1 \(at most 1e\+15\), got '1e20'"),
    ("Infinity", "prompt_tokens", r"column 'prompt_tokens' .* got 'Infinity'"),
    ("-4", "tp", r"column 'tp' must be a whole number >= 1"),
])
def test_non_finite_and_huge_cells_name_line_and_column(tmp_path, cell, col, match):
    raw = pd.read_csv(V.find_measurements(), dtype=str, keep_default_na=False)
    raw = raw[raw["metric"] != "iteration_s"].head(5).reset_index(drop=True)
    raw.at[3, col] = cell
    p = tmp_path / "m.csv"
    raw.to_csv(p, index=False)
    with pytest.raises(ValueError, match=rf"m.csv: line 5 \(id {raw.at[3, 'id']}\): {match}"):
        V.validate(p)


def test_first_bad_cell_is_the_one_a_row_reader_meets_first(tmp_path):
    raw = pd.read_csv(V.find_measurements(), dtype=str, keep_default_na=False)
    raw = raw[raw["metric"] != "iteration_s"].head(4).reset_index(drop=True)
    raw.at[2, "output_tokens"] = "x"            # line 4, a later column
    raw.at[2, "num_gpus"] = "y"                 # line 4, the first int column
    raw.at[3, "id"] = ""                        # line 5
    p = tmp_path / "m.csv"
    raw.to_csv(p, index=False)
    with pytest.raises(ValueError, match=r"line 4 \(id .*\): column 'num_gpus'"):
        V.validate(p)


def test_measurements_file_must_be_a_regular_file(tmp_path):
    with pytest.raises(ValueError, match="measurements file '/dev/null' is a device"):
        V.validate("/dev/null")
    with pytest.raises(ValueError, match="is a directory"):
        V.validate(tmp_path)


def test_cli_prints_summary_and_worst_rows_not_the_full_table(tmp_path, capsys):
    p = _random_file(tmp_path, n=400)
    out_csv = tmp_path / "full.csv"
    assert V.cli_main([str(p), "--csv", str(out_csv), "--worst", "5"]) == 0
    out = capsys.readouterr().out
    df = V.validate(p)
    ok = df[df["status"] == "ok"]
    worst = ok.loc[ok["error_pct"].abs().sort_values(ascending=False).index[:5], "id"]
    shown = [rid for rid in ok["id"] if f" {rid} " in f" {out} ".replace("\n", " ")]
    assert set(shown) == set(worst)                  # the five worst, no other simulated row
    assert "Worst 5 rows by |error|" in out and "MAPE overall" in out
    assert "by reason" in out and "... and" in out    # exclusions counted, listing capped
    assert len(out.splitlines()) < 150 < len(df)
    back = pd.read_csv(out_csv)
    assert list(back["id"]) == list(df["id"])         # the full table is in the CSV
    assert V.cli_main([str(p), "--worst", "-1"]) == 2


def test_calibrate_fit_works_on_the_prepared_groups():
    from kernel_model import calibrate as C
    prep = V.prepare(V.find_measurements())
    obj = C.Objective(prep)
    assert len(obj.row_family) == len(prep.inf_index) and set(obj.row_family) == {"ampere"}
    assert len(prep.scenarios) == len(prep.inf_index)
    P = prep.stacked_params({"hbm_efficiency": 0.5})
    slow = V.predict_arrays(P, prep.metrics)
    for pos in (0, len(prep.inf_index) // 2, len(prep.inf_index) - 1):
        sc = prep.scenarios[pos].replace(efficiency={"hbm_efficiency": 0.5})
        key, scale, _ = V.METRICS[prep.metrics[pos]]
        assert slow[pos] == pytest.approx(getattr(km.simulate(sc), key) * scale, rel=1e-12)


# ---- the 2025 measurements on the vectorised path (merge of main's fidelity work) ----------
def per_row_2025(path):
    """Reference: a Scenario and simulate() per row; output_tokens_per_s by hand as batch x
    output tokens x replicas / e2e (replicas = num_gpus / GPUs of the plan)."""
    out = {}
    for r in V.read_measurements(path):
        if r["kind"] != "inference":
            continue
        if r["metric"] in V.SATURATION_METRICS:
            out[r["id"]] = (V.SATURATION_STATUS, np.nan, "", r["weight_format"], r["kv_bits"])
            continue
        if r["metric"] not in V.METRICS:
            continue
        try:
            sc, note = V.scenario_for(r)
        except ValueError as e:
            out[r["id"]] = (f"cannot simulate: {e}", np.nan, "", r["weight_format"], r["kv_bits"])
            continue
        res = km.simulate(sc)
        if r["metric"] == "output_tokens_per_s":
            reps = r["num_gpus"] // (max(r["tp"], r["ep"]) * r["pp"])
            pred = r["batch"] * r["output_tokens"] * reps / res.e2e_s
        else:
            key, scale, _ = V.METRICS[r["metric"]]
            pred = getattr(res, key) * scale
        out[r["id"]] = ("ok", pred, note, sc.weight_format_spec().name, sc.kv_bits)
    return out


def _check_against_rows(df, ref):
    for rid, (status, pred, note, fmt, kv) in ref.items():
        got = df.loc[rid]
        assert (got["status"], got["note"], got["weight_format"], int(got["kv_bits"])) == \
            (status, note, fmt, kv), rid
        if status == "ok":
            assert got["predicted"] == pytest.approx(pred, rel=1e-9)
        else:
            assert np.isnan(got["predicted"])


def test_the_2025_file_equals_simulate_per_row():
    path = V.find_measurements("measurements_2025.csv")
    df = V.validate(path, saturation=False).set_index("id")
    ref = per_row_2025(path)
    assert len(ref) == len(df) == 47
    assert sum(s == "ok" for s, *_ in ref.values()) == 11
    assert any("(notes" in n for _, _, n, _, _ in ref.values())      # formats read from notes
    _check_against_rows(df, ref)


@pytest.mark.parametrize("seed", [0, 3])
def test_random_precisions_and_saturation_rows_equal_the_row_by_row_mapping(tmp_path, seed):
    """Random weight_format / kv_bits columns, FP8-KV and contradicting notes, replicas,
    output_tokens_per_s and saturation rows: grouping by precision gives per-row results,
    even where rows repeat enough for the closed form to run once per distinct row."""
    rng = np.random.default_rng(seed)
    src = pd.read_csv(_random_file(tmp_path, n=1500, seed=seed), dtype=str, keep_default_na=False)
    n = len(src)
    u = rng.random(n)
    src["weight_format"] = rng.choice(["", "", "fp8", "int8", "bf16", "awq", "nvfp4"], n)
    src["kv_bits"] = rng.choice(["", "", "8", "16", "4"], n)
    src["notes"] = rng.choice(["", "FP8 KV cache", "weight format: NVFP4", "AWQ int4 weights",
                               "fp16 baseline"], n)
    src["weight_bits"] = rng.choice(["16", "8", "4"], n)
    src.loc[u < 0.15, "metric"] = "output_tokens_per_s"
    sat = (u > 0.15) & (u < 0.22)
    src.loc[sat, "metric"], src.loc[sat, "batch"] = "max_output_tokens_per_s", "0"
    wide = src.assign(num_gpus=(src["num_gpus"].astype(int) * 2).astype(str))  # 2x replicas
    refs = []
    for k, part in enumerate((src, wide)):
        one = tmp_path / f"one{k}.csv"
        part.to_csv(one, index=False)
        refs.append(per_row_2025(one))
    copies = 8          # repeated rows: the closed form runs once per distinct row (and replicas)
    p = tmp_path / "prec.csv"
    pd.concat([src, wide] * (copies // 2), ignore_index=True).assign(
        id=[f"{i}" for i in range(copies * n)]).to_csv(p, index=False)
    df = V.validate(p, saturation=False)
    statuses = [s for s, *_ in refs[0].values()]
    assert statuses.count("ok") > 150 and statuses.count(V.SATURATION_STATUS) > 50
    assert sum("disagrees" in s for s in statuses) > 50                  # bits vs format
    assert V.unique_rows(V.prepare(p)) is not None
    for k in range(copies):
        _check_against_rows(df.iloc[k * n:(k + 1) * n].set_index(src["id"]), refs[k % 2])
