"""Recognise a pasted log line: which server kind wrote it, access or error, and what it says.

The lab configures JSON access formats for its hops, but users paste what their servers write by
default. Each hop kind's module recognises its own server's formats (`HopKind.recognisers`); this
module strips what sits in front of every line (`docker compose logs` prefixes), reads bare status
codes, and hands each line to those recognisers in turn. For access lines and traefik's proxy errors
a recogniser also writes `canonical`: the same event in the lab's own format, so that the scenario
files' regexes (written against the lab's formats) match the default formats too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from faultlab.hops import APP_SERVERS, HOP_KINDS, ParsedLine, same_family
from faultlab.hops.base import Recogniser

MAX_LINE_CHARS = 8192  # longer lines are cut: every signature sits near the start, and regexes stay fast

# `docker compose logs` prefixes every line with "service-1  | ".
_COMPOSE_PREFIX = re.compile(r"^[\w.-]+\s+\|\s?")
# What log pipelines put in front of a server's own line: `docker logs -t` / `kubectl logs --timestamps`
# (RFC 3339), syslog and journald ("Jul 10 22:05:17 host program[pid]: "). Tried after the line as it is:
# some servers' own lines start with a timestamp (traefik v3).
_PIPELINE_PREFIXES = (
    re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)\s"),
    re.compile(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d [\w.-]+ [\w./-]+(?:\[\d+\])?: "),
)
_STATUS_CODES = re.compile(r"^\s*[1-5]\d\d(?:\s*[,;\s]\s*[1-5]\d\d)*\s*$")
_HTTP_STATUS_LINE = re.compile(r"^\s*HTTP/[\d.]+ ([1-5]\d\d)\b")
_STATUS_WITH_REASON = re.compile(r"^\s*([1-5]\d\d) [A-Z][\w' -]*$")  # "502 Bad Gateway"
# A traceback's lines, Flask's "[…] ERROR in app: Exception on /x [GET]" before it, and Django's "Internal Server
# Error: /x" (django/core/handlers/exception.py logs the reason phrase and the path before the traceback).
_PYTHON_TRACE = re.compile(r"^(?:Traceback \(most recent call last\):|  File \"|[A-Za-z_][\w.]*(?:Error|Exception|Exit)"
                           r"(?:: |$)|\[\d{4}-\d\d-\d\d [\d:,]+\] ERROR in |Internal Server Error: /)")

# A line copied out of a narrow terminal, a mail or an issue's text is often broken in two. A piece that
# starts in lower case, is no format of its own and follows a long piece continues it: cut at a word
# (join with a space) unless the piece before is exactly a terminal's width, where the cut falls anywhere
# (`Killed pr` / `ocess 11438 (gunicorn)`: join as is).
_WRAPPED_AFTER = 60  # characters: shorter pieces are lines of their own (Go's "write: broken pipe")
_TERMINAL_WIDTHS = frozenset({80, 100, 120, 132})
_CONTINUES = re.compile(r"^[a-z]")

__all__ = ["MAX_LINE_CHARS", "ParsedLine", "could_be", "parse", "parse_lines", "unwrapped"]


def could_be(kind: str, kinds: frozenset[str]) -> bool:
    """Whether a line written by one of `kinds` may come from a hop of `kind`."""
    return same_family(kind, kinds)


def parse(raw: str) -> ParsedLine:
    text = _COMPOSE_PREFIX.sub("", raw.rstrip("\r\n"), count=1)[:MAX_LINE_CHARS]
    candidates = [text] + [prefix.sub("", text, count=1) for prefix in _PIPELINE_PREFIXES if prefix.match(text)]
    for candidate in candidates:
        for recognise in _RECOGNISERS:
            parsed = recognise(candidate)
            if parsed is not None:
                return parsed
    return ParsedLine(candidates[-1], "unknown", frozenset(), None)


def parse_lines(lines: Iterable[str]) -> list[ParsedLine]:
    return [parse(line) for line in lines if line.strip()]


# A document pasted as it was printed: an error page (curl's or a browser's view of it) from `<html` to
# `</html>`, a JSON object pretty-printed by jq or a log viewer from a lone `{` to a lone `}`. Each is one
# event; its lines are joined (stripped) so that a recogniser sees it whole. Longer ones are left as lines.
_DOCUMENTS = ((re.compile(r"^<html\b", re.IGNORECASE), re.compile(r"</html>$", re.IGNORECASE), ""),
              (re.compile(r"^\{$"), re.compile(r"^\}$"), " "))
_DOCUMENT_LINES = 60


def unwrapped(lines: Iterable[str]) -> list[str]:
    """The lines with the pieces of a wrapped line, and of a pasted document, joined again (see _CONTINUES,
    _DOCUMENTS)."""
    result: list[str] = []
    piece = ""  # the last physical line, as it was pasted
    document: list[str] = []  # the lines of an open document, as pasted
    ending: tuple[re.Pattern[str], str] | None = None  # the open document's last line, and its glue
    for raw in lines:
        line = raw.rstrip("\r\n")
        stripped = line.strip()
        if ending is not None:
            document.append(line)
            closing, glue = ending
            if closing.search(stripped):
                result.append(glue.join(part.strip() for part in document if part.strip()))
            elif len(document) > _DOCUMENT_LINES:  # no document after all: its lines stand on their own
                result += document
            else:
                continue
            document, ending, piece = [], None, ""  # nothing continues a document
            continue
        # A document opens on a line that does not close it too (a page on one line is a line).
        ending = next(((closing, glue) for opening, closing, glue in _DOCUMENTS
                       if opening.match(stripped) and not closing.search(stripped[1:])), None)
        if ending is not None:
            document = [line]
            continue
        if (result and len(piece) >= _WRAPPED_AFTER and _CONTINUES.match(line)
                and parse(line).format == "unknown"):
            result[-1] += line if len(piece) in _TERMINAL_WIDTHS else " " + line
        else:
            result.append(line)
        piece = line
    return result + document  # a document never closed: its lines as they were


def _status_codes(text: str) -> ParsedLine | None:
    if _STATUS_CODES.match(text):
        codes = tuple(int(code) for code in re.findall(r"\d{3}", text))
        return ParsedLine(text, "status codes", frozenset(), None, codes)
    match = _HTTP_STATUS_LINE.match(text) or _STATUS_WITH_REASON.match(text)
    if match:
        return ParsedLine(text, "HTTP status line", frozenset(), None, (int(match[1]),))
    return None


def _python(text: str) -> ParsedLine | None:
    # A traceback is the app's, printed by whichever app server runs it.
    if _PYTHON_TRACE.match(text):
        return ParsedLine(text, "Python traceback", APP_SERVERS, "error")
    return None


# Bare status codes first (a line "502" is no server's), each server's own formats in the registry's
# order (nginx's error line before uwsgi's markers, which an nginx line naming uwsgi_pass also holds),
# a Python traceback last.
_RECOGNISERS: tuple[Recogniser, ...] = (
    _status_codes, *(recognise for kind in HOP_KINDS.values() for recognise in kind.recognisers), _python,
)
