"""Checks every entry point runs on what a client sent before anything else reads it.

Python's decoders are lenient where the rest of the stack is not: ``json.loads`` turns ``"\\ud800"`` into a ``str``
that cannot be encoded (it fails later, in the database driver or a log line), Postgres refuses text containing NUL,
``urllib`` turns invalid percent-encoded UTF-8 into U+FFFD silently, and the JSON decoder recurses once per nesting
level. So bodies, query strings and websocket frames are checked here, once, and a problem is reported with the path
of the field that holds it (``messages[0].content``), so the client knows what to fix.
"""

import json
import re
from collections.abc import Iterator
from urllib.parse import unquote_to_bytes

from core.errors import ServiceError

# Deeper than any request we take needs (a chat message with tool calls is about five levels), far below the depth
# at which the decoder or a recursive serializer would exhaust the stack.
MAX_DEPTH = 32

# NUL: Postgres text cannot hold it. U+D800–U+DFFF: a surrogate left alone after decoding (pairs combine into one
# character), which UTF-8 cannot encode.
_FORBIDDEN = re.compile("[\x00\ud800-\udfff]")


class InvalidInput(ServiceError):
    """Input refused before it reached a view; ``field`` is the path of what holds the problem (None: the whole)."""

    def __init__(self, code: str, message: str, *, field: str | None = None, status: int = 400) -> None:
        super().__init__(code, message, status=status, param=field)

    @property
    def field(self) -> str | None:
        return self.param


# A field name is echoed in the refusal: a client's megabyte-long key must not come back whole.
SHOWN_NAME_CHARS = 80


def visible(name: str) -> str:
    """A field name with NUL and surrogates written as escapes and its length capped, so it can be shown (and
    logged) safely."""
    shown = _FORBIDDEN.sub(lambda match: f"\\u{ord(match.group()):04x}", name[: SHOWN_NAME_CHARS + 1])
    return shown if len(name) <= SHOWN_NAME_CHARS else shown[:SHOWN_NAME_CHARS] + "…"


def _subject(field: str | None, what: str = "The input") -> str:
    return f"'{field}'" if field else what


def check_text(text: str, *, field: str | None = None, subject: str | None = None) -> None:
    """Refuse a string holding NUL or a lone surrogate. ``subject`` overrides how the message names it."""
    match = _FORBIDDEN.search(text)
    if match is None:
        return
    position = match.start()
    subject = subject or _subject(field)
    if match.group() == "\x00":
        message = f"{subject} contains a NUL character (\\u0000) at position {position}."
        raise InvalidInput("nul_character", message, field=field)
    escape = f"\\u{ord(match.group()):04x}"
    message = f"{subject} contains a lone UTF-16 surrogate ({escape}) at position {position}."
    raise InvalidInput("lone_surrogate", message, field=field)


def decode_utf8(raw: bytes, *, field: str | None = None, what: str = "The input") -> str:
    """``raw`` as text, or a refusal naming the first byte that is not UTF-8."""
    subject = _subject(field, what)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        # ED A0..BF is how CESU-8 (and broken UTF-16 converters) write a surrogate: say so rather than "bad byte".
        if raw[exc.start] == 0xED and exc.start + 1 < len(raw) and 0xA0 <= raw[exc.start + 1] <= 0xBF:
            message = f"{subject} encodes a lone UTF-16 surrogate at byte {exc.start}; send UTF-8 text."
            raise InvalidInput("lone_surrogate", message, field=field) from None
        message = f"{subject} is not valid UTF-8 (byte {exc.start}: 0x{raw[exc.start]:02x})."
        raise InvalidInput("invalid_utf8", message, field=field) from None


def _member(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    name = visible(key)
    return f"{path}.{name}" if path else name


def _members(container: dict | list) -> Iterator[tuple[str | int, object]]:
    return iter(container.items()) if isinstance(container, dict) else enumerate(container)


def _path(node: tuple | None) -> str:
    keys: list[str | int] = []
    while node is not None:
        node, key = node
        keys.append(key)
    path = ""
    for key in reversed(keys):
        path = _member(path, key)
    return path


# A refusal names its field by walking the value, a Python loop that takes about a second per million values; past
# this many it says what is wrong without where.
WALK_BUDGET = 100_000


def _walk(value: object, *, max_depth: int, budget: int | None) -> None:
    if isinstance(value, str):
        check_text(value)
    if not isinstance(value, dict | list):
        return
    # One iterator per open container: no recursion, document order, and a field's path (a chain of (parent, key)
    # nodes) is only spelled out for a refusal.
    stack: list[tuple[Iterator, tuple | None]] = [(_members(value), None)]
    while stack:
        members, parent = stack[-1]
        for key, child in members:
            if budget is not None:
                budget -= 1
                if budget < 0:
                    return
            if isinstance(key, str) and _FORBIDDEN.search(key):
                field = _path((parent, key))
                check_text(key, field=field, subject=f"The key '{field}'")
            if isinstance(child, str):
                if _FORBIDDEN.search(child):
                    check_text(child, field=_path((parent, key)))
            elif isinstance(child, dict | list):
                if len(stack) >= max_depth:
                    field = _path((parent, key))
                    raise InvalidInput("too_deep", f"'{field}' is nested deeper than {max_depth} levels.", field=field)
                stack.append((_members(child), (parent, key)))
                break
        else:
            stack.pop()


def check_value(value: object, *, max_depth: int = MAX_DEPTH) -> None:
    """Refuse the first string or key (in document order) of a decoded JSON value that ``check_text`` refuses, or
    a container nested deeper than ``max_depth``."""
    _walk(value, max_depth=max_depth, budget=None)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value")


# Outside its strings, valid JSON holds brackets, separators, whitespace, numbers and true/false/null: all but the
# brackets deleted, and braces made brackets (once the decoder has accepted it, the nesting is all that matters).
_BRACKETS_ONLY = str.maketrans("{}", "[]", ",: \t\r\n0123456789+-.eEtrufalsn")


def _nested_deeper_than(text: str, max_depth: int) -> bool:
    """Does valid JSON ``text`` nest deeper than ``max_depth``? Exact, with string operations only: strip the
    strings, keep the brackets, remove the innermost pairs once per level."""
    if text.count("[") + text.count("{") <= max_depth:
        return False  # most bodies: a few objects in a list
    # Escaped backslashes first, then escaped quotes: what is left of every quote delimits a string.
    unescaped = text.replace("\\\\", "").replace('\\"', "")
    brackets = "".join(unescaped.split('"')[::2]).translate(_BRACKETS_ONLY)
    for _ in range(max_depth):
        if not brackets:
            return False
        brackets = brackets.replace("[]", "")
    return bool(brackets)


# The only ways NUL or a surrogate gets into a decoded string: its escape (a raw NUL is not valid JSON), or a raw
# surrogate in text that was never UTF-8. Pairs (emoji) and an escaped backslash before "u0000" match too.
_RISKY_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def _forbidden_character(text: str, value: object, *, decoded: bool) -> str | None:
    """The refusal code if any string or key of ``value`` (decoded from ``text``) holds NUL or a lone surrogate."""
    if not _RISKY_ESCAPE.search(text):
        if decoded:
            return None
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "lone_surrogate"
        return None
    # Exact, at the C encoder's speed: it writes NUL as \u0000 and, not escaping to ASCII, a lone surrogate as
    # itself, which UTF-8 refuses (a pair was decoded into one character).
    dumped = json.dumps(value, ensure_ascii=False)
    try:
        dumped.encode("utf-8")
    except UnicodeEncodeError:
        return "lone_surrogate"
    # Escaped backslashes removed first, so a backslash followed by "u0000" in some text is not taken for NUL.
    return "nul_character" if "\\u0000" in dumped.replace("\\\\", "") else None


def parse_json(raw: bytes | str, *, max_depth: int = MAX_DEPTH, what: str = "The body") -> object:
    """Decode and check a JSON document: UTF-8, well-formed (no NaN or Infinity), nested at most ``max_depth``
    levels, no NUL or lone surrogate in any string or key.

    Runs before authentication on up to a few megabytes: whether there is a problem is found with string
    operations (and the C encoder when an escape looks risky); only then is the value walked to name the field."""
    decoded = isinstance(raw, bytes)
    text = decode_utf8(raw, what=what) if decoded else raw
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        # The decoder recurses per level; far beyond max_depth.
        raise InvalidInput("too_deep", f"{what} is nested deeper than {max_depth} levels.") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput("invalid_json", f"{what} is not valid JSON: {exc}.") from None
    except ValueError:  # NaN or Infinity, or an integer longer than Python converts (4300 digits)
        message = f"{what} is not valid JSON: it holds NaN, Infinity or a number too long to read."
        raise InvalidInput("invalid_json", message) from None
    code = "too_deep" if _nested_deeper_than(text, max_depth) else _forbidden_character(text, value, decoded=decoded)
    if code is None:
        return value
    _walk(value, max_depth=max_depth, budget=WALK_BUDGET)
    messages = {
        "too_deep": f"{what} is nested deeper than {max_depth} levels.",
        "nul_character": f"{what} contains a NUL character (\\u0000).",
        "lone_surrogate": f"{what} contains a lone UTF-16 surrogate.",
    }
    raise InvalidInput(code, messages[code])


def check_query_string(query: str | bytes) -> None:
    """Refuse a query string (or form-encoded body) with a name or value that is not UTF-8 once percent-decoded,
    or that holds NUL or a lone surrogate. The problem names the parameter."""
    # A str comes from the server's decoding of the raw bytes; encoding it back keeps any surrogate it holds visible
    # to the UTF-8 check instead of failing here.
    raw = query if isinstance(query, bytes) else query.encode("utf-8", "surrogatepass")
    for pair in raw.split(b"&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition(b"=")
        name_bytes = unquote_to_bytes(raw_name.replace(b"+", b" "))
        value_bytes = unquote_to_bytes(raw_value.replace(b"+", b" "))
        field = visible(name_bytes.decode("utf-8", "backslashreplace"))
        check_text(decode_utf8(name_bytes, field=field), field=field)
        check_text(decode_utf8(value_bytes, field=field), field=field)
