from django import template

register = template.Library()


@register.filter
def duration(seconds) -> str:
    """Seconds as "1h 02m", "3m 05s" or "42s"; "-" when unknown."""
    if seconds is None:
        return "-"
    s = int(round(float(seconds)))
    if s >= 3600:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s}s"


@register.filter
def percent(fraction) -> str:
    return f"{100 * float(fraction or 0):.0f}%"


@register.filter
def number(value) -> str:
    """A float as a table prints it: four significant digits (exports keep every digit)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def metric_text(name: str, value) -> str:
    """A final metric as the tables print it: accuracy in percent (as the result tables), losses and
    distances with four decimals; "-" when missing. static/dashboard/live.js formats the same way."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "-"
    return f"{100 * value:.2f}%" if name.endswith("acc") else f"{value:.4f}"


@register.filter
def metric(metrics, name: str) -> str:
    """`{{ run.final_metrics|metric:"test_acc" }}`."""
    return metric_text(name, metrics.get(name) if hasattr(metrics, "get") else None)


@register.filter
def key_settings(config: dict) -> str:
    """An experiment's settings in a line, so that experiments of the same name differ at a glance."""
    c = config or {}
    parts = [c.get("dataset"), c.get("net"), f"{c.get('optimizer')} lr {c.get('lr'):g}" if c.get("lr") else None,
             f"SB {c.get('sb_batch'):g} / LB {c.get('lb_batch'):g}" if c.get("sb_batch") and c.get("lb_batch") else None,
             f"{c.get('epochs')} epochs" if c.get("epochs") else None,
             f"{c.get('seeds')} seed{'s' if c.get('seeds') != 1 else ''}" if c.get("seeds") else None,
             f"subset {c.get('subset')}" if c.get("subset") else None]
    return " · ".join(str(p) for p in parts if p)


@register.simple_tag(takes_context=True)
def sort_link(context, key: str, label: str) -> str:
    """A column header that sorts by `key` (again: the other way), keeping the search and filters."""
    from django.utils.html import format_html

    request, current = context["request"], context["sort"]
    descending = current == key  # ascending now: the next click reverses it
    query = request.GET.copy()
    query["sort"] = f"-{key}" if descending else key
    arrow = " ▲" if current == key else " ▼" if current == f"-{key}" else ""
    return format_html('<a href="?{}">{}{}</a>', query.urlencode(), label, arrow)


@register.filter
def get(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None
