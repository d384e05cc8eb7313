"""LIKE patterns from what a person typed: `50%_off` matches itself, not "50 anything off"."""


def escape_like(text: str) -> str:
    """For use with `escape="\\\\"`."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
