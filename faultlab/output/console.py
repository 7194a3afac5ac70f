"""Printing to a terminal of any width: lines wrap at word boundaries with a hanging indent, and text
from scenario files or server logs cannot send control sequences to the terminal."""

from __future__ import annotations

import os

from rich.console import Console
from rich.text import Text

from faultlab.output.printable import printable

HANG = 4  # continuation lines sit this much deeper than the line they continue
PIPE_WIDTH = 160


def make_console() -> Console:
    """On a terminal rich uses its width; piped into a CI log it would assume 80 columns and fold every
    table cell into a tower of short lines, so logs get 160."""
    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPE_WIDTH
    return console


def print_wrapped(console: Console, markup: str) -> None:
    """One logical line (rich markup), wrapped at spaces to the console's width; a word longer than the
    width (a regex, a URL) is folded."""
    markup = printable(markup)
    body = markup.lstrip(" ")
    indent = len(markup) - len(body)
    text = Text.from_markup(body)
    width = max(20, console.width - indent - HANG)
    for number, line in enumerate(text.wrap(console, width, overflow="fold")):
        line.rstrip()
        console.print(Text(" " * (indent + (HANG if number else 0))) + line, soft_wrap=True)
