"""``MetricCards``: TTFT, TPOT, tokens/s, memory per GPU, the bottleneck badge and insight."""
from __future__ import annotations

import ipywidgets as widgets

from . import palette
from ._util import esc, fmt_time
from .base import View


def metric(label: str, value: str, note: str = "", color: str | None = None) -> str:
    """One headline card: a small label, ``value`` (HTML) large, an optional note below."""
    n = f'<div class="nx-sub">{note}</div>' if note else ""
    style = f' style="color:{color}"' if color else ""
    return (f'<div class="nx-metric"><div class="l">{label}</div>'
            f'<div class="v"{style}>{value}</div>{n}</div>')


class MetricCards(View):
    """The headline numbers of the current result, and what limits it."""

    def _build(self):
        box = widgets.Layout(margin="0 8px 4px 0")
        self.ttft, self.tpot, self.tokens, self.mem = (widgets.HTML(layout=box) for _ in range(4))
        self.badge = widgets.HTML(layout=box)
        self.tpot.add_class("nx-tpot")
        self.insight = widgets.HTML()
        self.warnings = widgets.HTML()
        row = widgets.HBox([self.ttft, self.tpot, self.tokens, self.mem, self.badge],
                           layout=widgets.Layout(flex_flow="row wrap"))
        return [row, self.insight, self.warnings]

    def update(self, res):
        sc = res.scenario
        self.ttft.value = metric("TTFT", fmt_time(res.ttft_s), f"{sc.prompt_tokens}-token prompt")
        self.tpot.value = metric("TPOT", fmt_time(res.tpot_s), "per output token")
        self.tokens.value = metric("tokens / s", f"{res.output_tokens_per_s:,.0f}",
                                   f"batch {sc.batch}, all sequences")
        gb, cap = res.memory["total"] / 1e9, res.memory["capacity"] / 1e9
        self.mem.value = metric("memory / GPU", f"{gb:.1f} GB", f"of {cap:.1f} GB"
                                + ("" if res.fits else " · does not fit"),
                                None if res.fits else palette.ERROR)
        color = palette.BOTTLENECK.get(res.bottleneck, palette.OTHER)
        self.badge.value = metric("bottleneck", f'<span class="nx-badge" style="background:{color}">'
                                  f'{esc(res.bottleneck)}</span>', f"{res.num_gpus} GPU(s)")
        self.insight.value = f'<div style="font-size:13px;margin:2px 0">{esc(res.insight)}</div>'
        self.warnings.value = "".join(
            f'<div style="font-size:12px;color:{palette.WARNING}">⚠ {esc(w)}</div>' for w in res.warnings)
        self.set_header(f"{esc(sc.model)} on {res.num_gpus} × {esc(sc.gpu)} over {esc(sc.interconnect)}",
                        f"tp={sc.tp} pp={sc.pp} ep={sc.ep} · batch {sc.batch} · "
                        f"{sc.prompt_tokens}+{sc.output_tokens} tokens · "
                        + (f"{sc.weight_bits}-bit weights" if sc.weight_format == "auto"
                           else f"{esc(sc.weight_format)} weights") + f", {sc.kv_bits}-bit KV")
