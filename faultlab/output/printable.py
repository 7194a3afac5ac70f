"""Text safe for a terminal (light on purpose: `faultlab list` and every error line use it)."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """Text from a scenario file or a server's log, safe for a terminal: control characters (ESC starts
    colour changes, title sets, cursor moves) are shown as `\\x1b`, never sent to the terminal."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)
