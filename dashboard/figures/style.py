"""What every figure shares: its tools, its size and backend, and what each colour means.

Blue is SB and red is LB everywhere, and nothing else is blue or red; other roles (remedies, batch sizes, warm starts) take
Category10's other colours in a fixed order; the two sharpness box sizes have their own.
"""
from __future__ import annotations

from bokeh.plotting import figure

TOOLS = "pan,wheel_zoom,box_zoom,reset,save"  # save: PNG export
ROLE_COLORS = {"SB": "#1f77b4", "LB": "#d62728"}
OTHER_COLORS = ("#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
EPS_COLORS = {1e-3: "#9467bd", 5e-4: "#ff7f0e"}
ACCURACY_COLOR = "#2ca02c"
# an analysis's first and second quantity (cross-entropy and accuracy): black and Okabe-Ito's
# reddish purple, so that blue and red keep meaning SB and LB
LOSS_COLOR, SECOND_COLOR = "#000000", "#cc79a7"
MARK_COLOR = "#e69f00"  # a point marked on an image (Okabe-Ito orange: clear on Viridis)


def new_figure(title: str | None = None, x_label: str | None = None, y_label: str | None = None, *,
               height: int = 320, **kwargs):
    """A figure with the lab's tools, stretched to the page's width, drawn on a canvas."""
    return figure(title=title, x_axis_label=x_label, y_axis_label=y_label, tools=TOOLS, height=height,
                  sizing_mode="stretch_width", output_backend="canvas", **kwargs)


def role_colors(roles) -> dict[str, str]:
    """A colour for each role: SB's and LB's own, the others' in order."""
    others = [role for role in roles if role not in ROLE_COLORS]
    return {**{role: OTHER_COLORS[i % len(OTHER_COLORS)] for i, role in enumerate(others)}, **ROLE_COLORS}
