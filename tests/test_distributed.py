"""kernel_model.distributed: sweeps on a real dask.distributed LocalCluster (2 worker
processes) equal the local sweep row for row, also when a worker dies mid-run."""
import argparse
import io
import os

import numpy as np
import pandas as pd
import pytest

import kernel_model as km
from kernel_model import distributed
from kernel_model.sweep import sweep

distributed_mod = pytest.importorskip("distributed")

GRID = {"model": ["llama-2-7b", "mixtral-8x7b", "llama-2-70b"], "gpu": ["h100-sxm", "a100-sxm-80gb"],
        "interconnect": ["nvlink4", "pcie4_bad"], "tp": [1, 2, 3, 4, 8], "pp": [1, 2],
        "batch": [1, 4, 32], "prompt_tokens": [64, 512, 4096], "micro_batches": [1, 2]}


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1", silence_logs=40) as c, Client(c) as client:
        yield c, client


@pytest.fixture(scope="module")
def local():
    return sweep(GRID, progress=False)


def _same(a, b):
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_split_covers_every_row_once_in_order():
    items = list(GRID.items())
    blocks = distributed.split(items, 700)
    starts = [b[2] for b in blocks]
    sizes = [b[3] for b in blocks]
    assert starts == list(np.cumsum([0] + sizes[:-1]))
    assert sum(sizes) == np.prod([len(v) for v in GRID.values()])
    assert max(sizes) <= 700 and len(blocks) > 5


def test_client_sweep_equals_local_row_for_row(cluster, local, capsys):
    _, client = cluster
    df = sweep(GRID, client=client, chunk_rows=700, progress=False)
    _same(df, local)
    assert df.attrs["invalid"] == local.attrs["invalid"] > 0
    assert "Dask dashboard:" in capsys.readouterr().err


def test_lazy_dask_dataframe_and_drop(cluster, local):
    _, client = cluster
    ddf = sweep(GRID, client=client, lazy=True, chunk_rows=300)
    import dask.dataframe as dd
    assert isinstance(ddf, dd.DataFrame) and ddf.npartitions > 5
    got = ddf.compute()
    assert list(got["error"].astype(object)) == list(local["error"].astype(object))
    _same(got.drop(columns="error"), local.drop(columns="error"))
    dropped = sweep(GRID, client=client, invalid="drop", chunk_rows=1000, progress=False)
    _same(dropped, local.loc[local["valid"]])


def test_to_parquet_writes_every_row_once_and_refuses_an_existing_path(cluster, local, tmp_path):
    _, client = cluster
    path = tmp_path / "grid.parquet"
    assert sweep(GRID, client=client, to_parquet=path, chunk_rows=2000, progress=False) == str(path)
    back = pd.read_parquet(path)
    back = back.sort_index()
    assert len(back) == len(local) and back.index.is_unique
    assert np.array_equal(back["tpot_s"].to_numpy(), local["tpot_s"].to_numpy(), equal_nan=True)
    with pytest.raises(ValueError, match="already exists"):
        sweep(GRID, client=client, to_parquet=path)


async def _die():
    os._exit(1)


def test_a_worker_killed_mid_run_is_retried_without_losing_or_duplicating_rows(cluster, local, monkeypatch):
    c, client = cluster
    import sys
    sweep_mod = sys.modules["kernel_model.sweep"]
    before = set(client.scheduler_info()["workers"])
    killed = []
    real = sweep_mod._Progress.update

    def update(self, n):             # first finished block: kill a worker that is running one
        if not killed:
            busy = {w: ks for w, ks in client.processing().items() if ks}
            victim = sorted(busy)[0] if busy else sorted(before)[0]
            client.run(_die, workers=[victim], wait=False)
            killed.append((victim, list(busy.get(victim, []))))
        real(self, n)

    monkeypatch.setattr(sweep_mod._Progress, "update", update)
    df = sweep(GRID, client=client, chunk_rows=100, progress=False)
    assert killed and killed[0][0] in before and killed[0][1], killed
    _same(df, local)
    assert df.index.is_unique and len(df) == len(local)
    client.wait_for_workers(2, timeout=60)
    assert killed[0][0] not in set(client.scheduler_info()["workers"])   # it really died

    def reruns(dask_scheduler, keys):   # tasks sent to a worker more than once
        seen = {}
        for rec in dask_scheduler.transition_log:
            if rec[0] in keys and rec[2] == "processing":
                seen[rec[0]] = seen.get(rec[0], 0) + 1
        return sorted(k for k, v in seen.items() if v > 1)

    keys = set(killed[0][1])
    assert client.run_on_scheduler(reruns, keys=keys) == sorted(keys)


def test_optimize_with_a_client_gives_the_local_answer(cluster):
    _, client = cluster
    a = km.optimize("llama-2-70b", "h100-sxm", 8)
    b = km.optimize("llama-2-70b", "h100-sxm", 8, client=client)
    assert a.searched == b.searched and a.feasible == b.feasible
    _same(a.candidates, b.candidates)


def test_nexora_sweep_subcommand_local_and_on_a_scheduler(cluster):
    c, _ = cluster
    parser = argparse.ArgumentParser(prog="nexora")
    sub = parser.add_subparsers(dest="command")
    distributed.add_sweep_parser(sub)
    args = ["sweep", "--vary", "model=llama-2-7b,llama-2-13b", "--vary", "tp=1,2,3"]
    outs = []
    for extra in ([], ["--scheduler", c.scheduler_address]):
        a = parser.parse_args(args + extra)
        buf = io.StringIO()
        assert a.run(a, out=buf) == 0
        outs.append(pd.read_csv(io.StringIO(buf.getvalue())))
    _same(outs[0], outs[1])
    assert len(outs[0]) == 6 and list(outs[0]["valid"]) == [True, True, False] * 2
    with pytest.raises(ValueError, match="closest: tp"):
        distributed.parse_axis("tpp=1,2")
    with pytest.raises(ValueError, match="flash_attention"):
        distributed.parse_axis("flash_attention=maybe")


def test_sweep_without_a_client_never_imports_dask(python_ok):
    python_ok("import sys, kernel_model as km\n"
              "km.sweep({'tp': [1, 2]}, progress=False)\n"
              "km.optimize('llama-2-7b', 'h100-sxm', 2)\n"
              "bad = [m for m in ('dask', 'distributed') if m in sys.modules]\n"
              "assert not bad, bad\n")


def test_unreachable_scheduler_is_a_clear_error(free_port):
    with pytest.raises(ValueError, match="cannot connect"):
        sweep({"tp": [1, 2]}, scheduler=f"tcp://127.0.0.1:{free_port}")


def test_cli_main_exit_codes_and_one_line_errors(capsys, tmp_path):
    assert distributed.cli_main(["--vary", "tp=1,2", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"tp":1' in out and '"tp":2' in out
    for argv, word in ((["--vary", "tpp=1"], "tpp"), (["--vary", "tp=0"], "tp=0"),
                       (["--vary", "batch=x"], "batch"), (["--bogus"], "--bogus")):
        assert distributed.cli_main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("nexora sweep: error:") and word in err[0]
    path = tmp_path / "g.parquet"
    assert distributed.cli_main(["--vary", "tp=1,2", "--parquet", str(path)]) == 0
    assert len(pd.read_parquet(path)) == 2
    assert distributed.cli_main(["--vary", "tp=1,2", "--parquet", str(path)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_lazy_without_a_client_runs_on_dask_threads(local):
    ddf = sweep(GRID, lazy=True, chunk_rows=500)
    got = ddf.compute()
    assert ddf.npartitions > 3
    _same(got.drop(columns="error"), local.drop(columns="error"))


def test_scenarios_pickle_for_workers():
    import pickle
    sc = km.Scenario(model="llama-2-70b", tp=8, efficiency={"hbm_efficiency": 0.7})
    back = pickle.loads(pickle.dumps(sc))
    assert back == sc and km.simulate(back).tpot_s == km.simulate(sc).tpot_s
    with pytest.raises(TypeError):
        back.efficiency["hbm_efficiency"] = 1.0


def test_compact_blocks_share_the_whole_grids_categories(cluster):
    _, client = cluster
    want = sweep(GRID, compact=True, progress=False)
    got = sweep(GRID, client=client, compact=True, chunk_rows=500, progress=False)
    _same(got, want)
    assert str(got["tp"].dtype) == "category" and got["tpot_s"].dtype == np.float32


def test_lazy_to_parquet_on_the_given_client(cluster, local, tmp_path):
    _, client = cluster
    path = tmp_path / "lazy.parquet"
    assert sweep(GRID, client=client, lazy=True, to_parquet=path, chunk_rows=700) == str(path)
    back = pd.read_parquet(path).sort_index()
    assert len(back) == len(local)
    assert np.array_equal(back["ttft_s"].to_numpy(), local["ttft_s"].to_numpy(), equal_nan=True)
