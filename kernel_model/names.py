"""Names a user typed against the valid ones: the closest matches for an error message."""
from __future__ import annotations

import difflib


def closest(name: str, valid) -> list[str]:
    """Up to three valid names closest to ``name`` (for error messages)."""
    valid = list(valid)
    hits = difflib.get_close_matches(str(name).lower(), valid, n=3, cutoff=0.4)
    if not hits:
        hits = [v for v in valid if str(name).lower()[:3] in v][:3]
    return hits


def unknown(field_name: str, value, valid) -> ValueError:
    """``ValueError`` naming the field, the value, the closest valid names and all of them."""
    near = closest(value, valid)
    hint = f"; closest: {', '.join(near)}" if near else ""
    return ValueError(f"{field_name}={value!r} is not a known {field_name}{hint} "
                      f"(valid: {', '.join(sorted(valid))})")
