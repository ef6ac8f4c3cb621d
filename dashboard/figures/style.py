"""What every figure shares: its tools, its size and backend, and what each colour means.

Colours are from Okabe and Ito's colour-blind-safe palette (and Tol's muted one after it):
blue is SB and vermillion is LB everywhere, and nothing else is either; other groups (remedies,
batch sizes, warm starts, compare groups) take the other colours in a fixed order; the two
sharpness box sizes have their own.
"""
from __future__ import annotations

from bokeh.plotting import figure

TOOLS = "pan,wheel_zoom,box_zoom,reset,save"  # save: PNG export
ROLE_COLORS = {"SB": "#0072b2", "LB": "#d55e00"}
OTHER_COLORS = ("#009e73", "#e69f00", "#cc79a7", "#882255", "#999933", "#44aa99", "#000000", "#aa4499")
EPS_COLORS = {1e-3: "#882255", 5e-4: "#e69f00"}
ACCURACY_COLOR = "#009e73"
# an analysis's first and second quantity (cross-entropy and accuracy): black and Okabe-Ito's
# reddish purple, so that blue and vermillion keep meaning SB and LB
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
