"""Plain sentences for team leaders: what happened, never what it means about a person."""

from __future__ import annotations


def duration_text(ms: float) -> str:
    """1_200_000 -> '20 min', 5_400_000 -> '1 h 30 min', 45_000 -> '45 s'."""
    total = round(ms / 1000)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours} h")
    if minutes:
        parts.append(f"{minutes} min")
    if secs or not parts:
        parts.append(f"{secs} s")
    return " ".join(parts)


def code_name(code: str | None, label: str | None) -> str:
    if code is None:
        return "an unknown code"
    return f"{label} ({code})" if label and label != code else code
