"""Small layout pieces: the dashboard's CSS (``style()``) and a wrapping row."""
from __future__ import annotations

import ipywidgets as widgets

from . import palette

CSS = f"""
<style>
.nx-root {{ font-family: {palette.FONT}; color: #222; }}
.nx-card {{ background: #fff; border: 1px solid #e3e3e3; border-radius: 8px;
           box-shadow: 0 1px 2px rgba(0,0,0,.05); padding: 8px 10px; }}
.nx-title {{ font-size: 14px; font-weight: 600; margin: 0 0 2px 0; }}
.nx-sub {{ font-size: 12px; color: #666; }}
.nx-metric {{ background: #fafafa; border: 1px solid #e6e6e6; border-radius: 8px;
             padding: 6px 12px; min-width: 120px; }}
.nx-metric .v {{ font-size: 22px; font-weight: 600; line-height: 1.2; }}
.nx-metric .l {{ font-size: 11px; color: #666; text-transform: uppercase; letter-spacing: .04em; }}
.nx-badge {{ display: inline-block; color: #fff; border-radius: 12px; padding: 2px 10px;
            font-size: 12px; font-weight: 600; }}
.nx-table {{ border-collapse: collapse; font-size: 12px; line-height: 1.35; width: 100%; }}
.nx-table th, .nx-table td {{ padding: 2px 6px; text-align: right; border-bottom: 1px solid #eee;
                              white-space: nowrap; }}
.nx-table th {{ font-weight: 600; color: #555; }}
.nx-table th:first-child, .nx-table td:first-child {{ text-align: left; }}
.nx-table tr.cur td {{ font-weight: 600; }}
.nx-compare-table .nx-table {{ width: auto; }}
/* the timeline's hover markers carry tooltips only: bqplot leaves markers it adds on an
   update unstyled (black, opaque), which drew black blocks over every stage after 0 */
.nx-timeline .dot {{ opacity: 0 !important; fill: rgba(0, 0, 0, 0) !important;
                    stroke: none !important; }}
.nx-controls .widget-label {{ min-width: 92px; }}
</style>
"""


def style() -> widgets.HTML:
    """An HTML widget carrying the CSS the views use (include it once per output)."""
    return widgets.HTML(CSS, layout=widgets.Layout(height="0px", margin="0", overflow="hidden"))


class Row(widgets.HBox):
    """Children side by side, sharing the width, wrapping on narrow screens."""

    def __init__(self, children=(), min_child_width: str = "340px", **layout):
        lay = dict(width="100%", flex_flow="row wrap", align_items="stretch")
        lay.update(layout)
        super().__init__(children=list(children), layout=widgets.Layout(**lay))
        for c in children:
            if not c.layout.flex:
                c.layout.flex = f"1 1 {min_child_width}"
            if not c.layout.min_width:
                c.layout.min_width = f"min({min_child_width}, 100%)"
