"""Server-rendered SVG charts: no charting library and no script, so the page works under CSP."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

ROW = 22
LABEL = 170  # the label column's least width; longer labels widen it
CHAR = 7  # about one character of the chart's 12 px sans-serif, in px
WIDTH = 420
COLOURS = {"approved": "#2e7d32", "edited": "#f9a825", "rejected": "#c62828"}
# What each outcome means, in the legend and on hover ("approved" alone read as all approvals).
OUTCOME_WORDS = {
    "approved": "approved unchanged",
    "edited": "edited, then approved",
    "rejected": "rejected",
}
SHARE_TEXT_MIN = 34  # px: a segment this wide has its percentage written on it
LEGEND_STEP = 170


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _label_width(labels: Sequence[str]) -> int:
    """Wide enough for the longest label (snippet keys and template names run long)."""
    return max(LABEL, max((len(label) for label in labels), default=0) * CHAR + 12)


def _label(group: str, names: Mapping[str, str]) -> tuple[Markup, str]:
    """A group in words (a person's display name, a snippet's title) with its code in small
    print (the plain text for hover titles and for measuring); any other label as it is."""
    name = names.get(group)
    if not name:
        return escape(group), group
    text = f"{name} ({group})"
    return Markup(f'{escape(name)} <tspan class="key">{escape(group)}</tspan>'), text


def bar_chart(
    items: Sequence[tuple[str, float]],
    title: str,
    unit: str = "",
    names: Mapping[str, str] | None = None,
) -> Markup:
    """Horizontal bars, one per label, with the value written at the end of the bar. `names`
    puts words on codes among the labels (user names, snippet keys)."""
    if not items:
        return Markup('<p class="empty">Nothing in this period.</p>')
    top = max(float(v) for _, v in items) or 1.0
    height = ROW * len(items) + 4
    labels = [_label(label, names or {}) for label, _ in items]
    left = _label_width([text for _, text in labels])
    parts = [
        f'<svg class="chart" role="img" width="{left + WIDTH + 100}" height="{height}" '
        f'viewBox="0 0 {left + WIDTH + 100} {height}"><title>{escape(title)}</title>'
    ]
    for index, ((_, value), (shown, text)) in enumerate(zip(items, labels, strict=True)):
        y = index * ROW + 2
        width = max(1.0, WIDTH * float(value) / top)
        parts.append(
            f'<text x="{left - 6}" y="{y + 15}" text-anchor="end">{shown}</text>'
            f'<rect x="{left}" y="{y}" width="{width:.1f}" height="{ROW - 6}" fill="#1565c0">'
            f"<title>{escape(text)}: {_number(float(value))}{escape(unit)}</title></rect>"
            f'<text x="{left + width + 4:.1f}" y="{y + 15}">{_number(float(value))}'
            f"{escape(unit)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def share_chart(
    table: Sequence[dict[str, object]], title: str, names: Mapping[str, str] | None = None
) -> Markup:
    """One stacked bar per group: approved unchanged, edited, rejected, as shares of 100%.
    `names` puts words on codes among the groups (user names, snippet keys)."""
    if not table:
        return Markup('<p class="empty">No decided drafts in this period.</p>')
    height = ROW * len(table) + 24
    labels = [_label(str(e["group"]), names or {}) for e in table]
    left = _label_width(
        [f"{text} ({e['decided']})" for e, (_, text) in zip(table, labels, strict=True)]
    )
    wide = max(left + WIDTH + 100, left + LEGEND_STEP * len(COLOURS))
    parts = [
        f'<svg class="chart" role="img" width="{wide}" height="{height}" '
        f'viewBox="0 0 {wide} {height}"><title>{escape(title)}</title>'
    ]
    for index, (entry, (shown, text)) in enumerate(zip(table, labels, strict=True)):
        y = index * ROW + 2
        x = float(left)
        parts.append(
            f'<text x="{left - 6}" y="{y + 15}" text-anchor="end">'
            f"{shown} ({entry['decided']})</text>"
        )
        for outcome, colour in COLOURS.items():
            share = float(entry[f"{outcome}_share"])  # type: ignore[arg-type]
            width = WIDTH * share
            if width <= 0:
                continue
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{ROW - 6}" '
                f'fill="{colour}"><title>{escape(text)} '
                f"{OUTCOME_WORDS[outcome]}: {share:.0%}</title></rect>"
            )
            if width >= SHARE_TEXT_MIN:
                parts.append(
                    f'<text class="share share-{outcome}" x="{x + width / 2:.1f}" y="{y + 12}" '
                    f'text-anchor="middle">{share:.0%}</text>'
                )
            x += width
    legend_y = len(table) * ROW + 16
    for index, (outcome, colour) in enumerate(COLOURS.items()):
        x = left + index * LEGEND_STEP
        parts.append(
            f'<rect x="{x}" y="{legend_y - 10}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="{legend_y}">{OUTCOME_WORDS[outcome]}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
