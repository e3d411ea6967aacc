"""``nexora --mode training ...``: the command line of :func:`simulate_training`."""
from __future__ import annotations

import json

from ..gemm import run_cli
from .iteration import simulate_training


def _parser():
    """The argument parser of ``nexora --mode training``."""
    from ..cli import _Parser
    p = _Parser(prog="nexora --mode training", allow_abbrev=False,
                description="Training iteration time, memory per GPU and MFU.")
    p.add_argument("--mode", default="training")
    p.add_argument("--model", default="gpt-175b")
    p.add_argument("--gpu", default="a100-sxm-80gb")
    p.add_argument("--interconnect", default=None)
    p.add_argument("--seq-len", type=int, default=2048)
    p.add_argument("--global-batch", type=int, default=64)
    p.add_argument("--micro-batch", type=int, default=1)
    for n in ("--dp", "--tp", "--pp", "--cp", "--ep"):
        p.add_argument(n, type=int, default=1)
    p.add_argument("--recompute", default="none")
    p.add_argument("--sequence-parallel", action="store_true")
    p.add_argument("--zero-stage", type=int, default=0)
    p.add_argument("--schedule", default="1f1b")
    p.add_argument("--precision", default="bf16")
    p.add_argument("--grad-bits", type=int, default=16)
    p.add_argument("--optimizer", default="adam")
    p.add_argument("--no-flash-attention", action="store_true")
    p.add_argument("--tp-overlap", type=float, default=0.0)
    p.add_argument("--dp-overlap", type=float, default=1.0)
    p.add_argument("--layers", type=int, default=None)
    p.add_argument("--num-gpus", type=int, default=None)
    p.add_argument("--gpus-per-node", type=int, default=8)
    p.add_argument("--energy", action="store_true", help="also print energy per iteration")
    p.add_argument("--json", action="store_true")
    return p


def cli_main(argv=None) -> int:
    """``nexora --mode training ...``: print the iteration summary (or JSON). Exit 2 on bad input."""
    def run(a):
        from ..cli import resolve_model
        res = simulate_training(
            model=resolve_model(a.model), gpu=a.gpu, interconnect=a.interconnect,
            seq_len=a.seq_len, global_batch=a.global_batch, micro_batch=a.micro_batch, dp=a.dp,
            tp=a.tp, pp=a.pp, cp=a.cp, ep=a.ep, recompute=a.recompute,
            sequence_parallel=a.sequence_parallel, zero_stage=a.zero_stage,
            schedule=a.schedule, precision=a.precision, grad_bits=a.grad_bits,
            optimizer=a.optimizer, flash_attention=not a.no_flash_attention,
            tp_overlap=a.tp_overlap, dp_overlap=a.dp_overlap, layers=a.layers,
            num_gpus=a.num_gpus, gpus_per_node=a.gpus_per_node)
        en = None
        if a.energy:
            from ..energy import training_energy
            en = training_energy(res)
        if a.json:
            d = res.to_dict()
            if en is not None:
                d["energy"] = en.to_dict()
            return json.dumps(d, indent=2)
        return res.summary() + ("" if en is None else "\n" + en.summary())
    return run_cli(_parser(), argv, "training", run)
