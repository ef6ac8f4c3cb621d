"""Independent references for the numerical tests: the explicit Hessian of a small network's mean
cross-entropy (torch.autograd.functional), and every serialized Bokeh model of a json_item."""
import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call


def exact_hessian(model, x, y) -> np.ndarray:
    """The Hessian of mean cross-entropy over (x, y) in the model's trainable parameters, in their order."""
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    shapes = [p.shape for p in model.parameters() if p.requires_grad]

    def loss(flat):
        parts = flat.split([s.numel() for s in shapes])
        return F.cross_entropy(functional_call(model, {n: p.view(s) for n, p, s in zip(names, parts, shapes)}, (x,)), y)

    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters() if p.requires_grad])
    return torch.autograd.functional.hessian(loss, flat).numpy()


def bokeh_nodes(node):
    """Every dict in a serialized Bokeh document, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from bokeh_nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from bokeh_nodes(value)


def run_figure_sources(figure) -> dict[str, dict]:
    """A run-curves figure (dashboard/figures/runs.py) as the page's script makes it: {source name:
    {"x": [...], "y": [...], ...}} with group g's template "t#<g>:<metric>" made one source
    "r<run>:<metric>" per run of the group, the points decoded from the payload and each threshold
    filled in; every other source as the skeleton has it."""
    from dashboard.figures.runs import THRESHOLD  # here: tests/trainer import this module, no Django models

    out = {}
    for node in bokeh_nodes(figure["item"]["doc"]):
        if node.get("name") != "ColumnDataSource":
            continue
        name = str(node["attributes"].get("name", ""))
        data = dict(node["attributes"].get("data", {}).get("entries", []))
        if name.startswith("t#"):
            group, _, metric = name[2:].partition(":")
            for run, _label, g in figure["lines"]:
                if g == int(group):
                    name = f"r{run}:{metric}"
                    out[name] = data
                    if name in figure["data"]:
                        x, y = figure["data"][name]
                        out[name] = {"x": np.cumsum(unpack(x, "<i4")).tolist(),
                                     "y": unpack(y, "<f4", dropped=1).tolist()}
            continue
        if name.startswith(THRESHOLD) and name[len(THRESHOLD):] in figure["thresholds"]:
            value, text = figure["thresholds"][name[len(THRESHOLD):]]
            data = {"x": [0.0], "y": [value], "text": [text]}
        out[name] = data
    return out


def unpack(text: str, dtype: str, dropped: int = 0):
    """dashboard.figures.runs.pack undone, written apart: base64, inflate, byte planes back to
    4-byte values, the `dropped` low bytes zero."""
    import base64
    import zlib

    planes = np.frombuffer(zlib.decompress(base64.b64decode(text)), np.uint8).reshape(4 - dropped, -1)
    rows = np.zeros((planes.shape[1], 4), np.uint8)
    rows[:, dropped:] = planes.T
    return rows.view(dtype).ravel()


def m4_reference(steps: np.ndarray, values: np.ndarray, width: int) -> dict[int, float]:
    """M4 by a plain loop: each bucket of `width` steps' first, last, minimum and maximum as {step: value}."""
    kept = {}
    for b in np.unique(steps // width):
        inside = np.flatnonzero(steps // width == b)
        for i in (inside[0], inside[-1], inside[np.argmin(values[inside])], inside[np.argmax(values[inside])]):
            kept[int(steps[i])] = values[i]
    return kept
