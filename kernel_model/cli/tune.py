"""The old tool's optimiser and its guardrails (``--max-risk``, ``--max-group``, ``--no-opt``).

It searches the three scheduling knobs the old tool tuned, the communication precision
(``--bits``), coalescing (``--group``) and overlap (``--overlap``), for the fastest decode
step whose *risk* stays within the budget. Risk rates how much a suggestion relies on things
that may not hold on a real system:

    risk = 0.4 x overlap + 0.05 x (group - 1) + RISK_BITS[bits], capped at 1

(overlap needs kernels that really run concurrently; coalescing delays every collective of a
group; fewer bits round the activations sent between GPUs). The plan itself (tp, pp, batch,
weights) is never changed: ``nexora optimize`` searches plans.
"""
from __future__ import annotations

RISK_OVERLAP = 0.4          # per unit of overlap
RISK_GROUP = 0.05           # per extra collective coalesced
RISK_BITS = {16: 0.0, 8: 0.10, 4: 0.25}
OVERLAPS = (0.0, 0.25, 0.5, 0.75, 0.95)   # the old tool's range ended at 0.95


def risk(overlap: float, group: int, bits: int) -> float:
    """Risk of a setting, 0..1 (see the module doc)."""
    r = RISK_OVERLAP * overlap + RISK_GROUP * (group - 1) + RISK_BITS[bits]
    return round(min(1.0, r), 9)


def groups(max_group: int) -> list[int]:
    """Group sizes tried: powers of two up to ``max_group``, and ``max_group``."""
    out, g = [], 1
    while g <= max_group:
        out.append(g)
        g *= 2
    return sorted(set(out) | {max_group})


def candidates(max_group: int, max_risk: float) -> list[tuple[float, int, int, float]]:
    """(overlap, group, bits, risk) within the budget, lowest risk first."""
    out = [(ov, g, b, risk(ov, g, b)) for b in (16, 8, 4) for g in groups(max_group)
           for ov in OVERLAPS]
    return sorted((c for c in out if c[3] <= max_risk), key=lambda c: c[3])


def optimise(sc, base, sim, max_group: int, max_risk: float) -> dict:
    """The fastest setting within the budget (``sim``: Scenario -> Result). Returns a dict
    with the setting, its risk, time per token and speed-up over ``base`` (the Result of
    ``sc``); the baseline itself counts when its own risk is within budget."""
    best, best_key = None, None
    cands = candidates(max_group, max_risk)
    own = risk(sc.overlap, sc.comm_group, sc.comm_bits)
    if own <= max_risk:
        cands = [(sc.overlap, sc.comm_group, sc.comm_bits, own)] + cands
    for ov, g, b, r in cands:
        res = base if (ov, g, b) == (sc.overlap, sc.comm_group, sc.comm_bits) else \
            sim(sc.replace(overlap=ov, comm_group=g, comm_bits=b))
        key = (res.tpot_s, r)
        if best_key is None or key < best_key:
            best, best_key = (ov, g, b, r, res), key
    ov, g, b, r, res = best
    return {"overlap": ov, "group": g, "bits": b, "risk": r, "tpot_s": res.tpot_s,
            "tokens_per_s": res.output_tokens_per_s, "speedup": base.tpot_s / res.tpot_s,
            "max_risk": max_risk, "max_group": max_group, "searched": len(cands),
            "bottleneck": res.bottleneck}


def lines(opt: dict, base) -> list[str]:
    same = opt["speedup"] <= 1.0 + 1e-12
    head = (f"Optimizer (risk <= {opt['max_risk']:g}, group <= {opt['max_group']}; "
            f"{opt['searched']} settings of --bits/--group/--overlap tried)")
    if same:
        return [head, f"  nothing within the budget beats the baseline "
                      f"({base.tpot_s * 1e3:.3f} ms/token); raise --max-risk to allow more"]
    return [head,
            f"  --bits {opt['bits']} --group {opt['group']} --overlap {opt['overlap']:g}: "
            f"{opt['tpot_s'] * 1e3:.3f} ms/token vs {base.tpot_s * 1e3:.3f} ms "
            f"({opt['speedup']:.2f}x, {opt['tokens_per_s']:,.1f} tokens/s), risk {opt['risk']:.2f}"]
