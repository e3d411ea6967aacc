"""One color per category, shared by every chart (colour-blind-safe Tableau-10 hues).

``CATEGORY``: causes of a step's time (the keys of ``Result.breakdown``);
``BOUND``: what bounds one kernel in ``Result.timeline`` -> the category it feeds;
``KIND``: kernel kinds (``timeline.kind``); ``MEMORY``: parts of ``Result.memory``.
"""
from __future__ import annotations

CATEGORY = {
    "compute": "#4C78A8",          # blue
    "hbm": "#F58518",              # orange
    "communication": "#E45756",    # red
    "launch_overhead": "#8C6D31",  # dark brown (apart from the grey bubble even when faded)
    "pipeline_bubble": "#C8C8C8",  # light grey: GPUs idle
}
CATEGORY_LABEL = {
    "compute": "compute", "hbm": "HBM traffic", "communication": "communication",
    "launch_overhead": "launch overhead", "pipeline_bubble": "pipeline bubble",
}
#: timeline ``bound`` value -> category whose color the kernel gets
BOUND = {"compute": "compute", "memory": "hbm", "comm": "communication", "launch": "launch_overhead"}
BOUND_LABEL = {"compute": "compute-bound", "memory": "HBM-bound", "comm": "communication",
               "launch": "launch-bound"}

KIND = {
    "gemm": "#4C78A8", "attention": "#B279A2", "elementwise": "#72B7B2", "comm": "#E45756",
    "aggregate": "#8C8C8C",
}
KIND_LABEL = {"gemm": "GEMM", "attention": "attention", "elementwise": "elementwise",
              "comm": "collective", "aggregate": "later micro-batches (one block)"}

#: phases of a training iteration (``TrainingResult.timeline.phase``)
TRAINING_PHASE = {
    "forward": "#4C78A8", "backward": "#72B7B2", "recompute": "#B279A2",
    "p2p": "#E45756", "dp_communication": "#FF9DA6", "optimizer": "#54A24B",
}
TRAINING_PHASE_LABEL = {"forward": "forward", "backward": "backward", "recompute": "recompute",
                        "p2p": "stage-to-stage send", "dp_communication": "data-parallel sync",
                        "optimizer": "optimizer step"}

MEMORY = {
    "weights": "#54A24B",          # green
    "kv_cache": "#B279A2",         # purple
    "activations": "#EECA3B",      # yellow
    "free": "#E6E6E6",
}
MEMORY_LABEL = {"weights": "weights", "kv_cache": "KV cache", "activations": "activations",
                "free": "free"}

#: bottleneck label -> category color of its badge
BOTTLENECK = {"COMPUTE-BOUND": CATEGORY["compute"], "MEMORY-BOUND": CATEGORY["hbm"],
              "INTERCONNECT-BOUND": CATEGORY["communication"], "BALANCED": "#6F6F6F"}

TRANSPARENT = "rgba(0, 0, 0, 0)"   # marks that only carry tooltips
OTHER = "#79706E"          # anything the engine adds that has no color here yet
TOKENS = "#222222"        # tokens/s line (scaling chart)
MUTED_OPACITY = 0.45      # other plans
GRID = "#ddd"             # dashed grid lines of every value axis
ERROR = "#B00020"
WARNING = "#8A5A00"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"


def bound_colors() -> dict:
    """timeline ``bound`` value -> color."""
    return {b: CATEGORY[c] for b, c in BOUND.items()}


def swatch(color: str, label: str) -> str:
    """A small square of ``color`` followed by ``label`` (HTML)."""
    return (f'<span style="display:inline-flex;align-items:center;margin-right:12px;'
            f'white-space:nowrap"><span style="width:11px;height:11px;border-radius:2px;'
            f'background:{color};display:inline-block;margin-right:5px"></span>{label}</span>')


def legend_html(colors: dict, labels: dict | None = None) -> str:
    """A one-line HTML legend of ``{key: color}`` (labels default to the keys)."""
    labels = labels or {}
    items = "".join(swatch(c, labels.get(k, k)) for k, c in colors.items())
    return f'<div style="font-size:12px;color:#444;font-family:{FONT}">{items}</div>'
