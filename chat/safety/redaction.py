"""PII redaction: e-mail addresses, phone numbers, IBANs and payment card numbers, in text and in streams.

``redact`` rewrites a finished text. ``StreamRedactor`` does the same for text arriving in pieces: a piece is let
through only once nothing after it could still turn it into part of a match, so an address split across model
tokens ("jane.doe@" + "example.com") is caught whole. Held back is at most the trailing run of number-like words
and the word being written, so the stream lags by a word or two, never by a sentence.

Numbers are checked, not just shaped: IBANs must pass ISO 7064 mod 97, card numbers the Luhn check, and phone
numbers need 9 to 15 digits written the way phones are written, so years, amounts and ids stay as they are: a
number glued to a dot, colon, slash or "#" (an IP address, a version, a time) is not a phone; neither is one that
holds a date, a run of years or of small numbers, or one labelled as an order, invoice, ticket or tracking number.
"""

import re
from collections import Counter
from collections.abc import Callable

EMAIL = re.compile(r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
CARD = re.compile(r"(?<![\d.:/-])\d(?:[ -]?\d){12,18}(?![\d-]|[.:/]\d)")
# After a country code the first group may be a single digit ("+31 6 1234 5678"); a phone never touches a dot,
# colon, slash or "#" followed by digits (IP addresses, versions, times, ticket numbers).
PHONE = re.compile(
    r"(?<![\w+.:/#-])(?:\+\d{1,3}[ -]?\d{1,5}|(?:\(\d{1,4}\)[ -]?)?\d{2,5})(?:[ -]\d{2,5}){1,4}(?![\w-]|[.:/,]\d)"
)
# Words that say the number after them is not someone's phone, and words that say it is.
_NOT_A_PHONE = re.compile(
    r"\b(?:order|invoice|receipt|ticket|tracking|ref|reference|serial|isbn|sku|booking|confirmation|po|batch|lot)"
    # then "no." / ":" and at most a prefix: letters ("INV-") or up to three groups with digits ("1Z 999 AA1")
    r"(?:\s*(?:no|nr|num|number|id|code)\b\.?)?\s*[:#]?\s*(?:[A-Za-z]{1,6}[ -]?)?"
    r"(?:(?=[A-Za-z]*\d)[A-Za-z0-9]{1,6}[ -]?){0,3}$",
    re.IGNORECASE,
)
_DATE = re.compile(r"(?:19|20)\d\d-\d{1,2}-\d{1,2}|\d{1,2}-\d{1,2}-(?:19|20)\d\d")
_YEAR = re.compile(r"(?:19|20)\d\d")
LABELS = {
    "email": "[email redacted]",
    "iban": "[IBAN redacted]",
    "card": "[card number redacted]",
    "phone": "[phone redacted]",
}


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def luhn_valid(number: str) -> bool:
    digits = [int(c) for c in reversed(number)]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits))
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    compact = candidate.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def isbn13_valid(number: str) -> bool:
    return (
        len(number) == 13
        and number[:3] in ("978", "979")
        and sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(number)) % 10 == 0
    )


def _is_card(match: re.Match) -> bool:
    digits = _digits(match.group())
    return 13 <= len(digits) <= 19 and luhn_valid(digits) and not ("-" in match.group() and isbn13_valid(digits))


def _is_phone(match: re.Match) -> bool:
    text = match.group()
    if not 9 <= len(_digits(text)) <= 15:
        return False
    groups = re.findall(r"\d+", text)
    if text.startswith(("+", "(")):
        return True  # a country or area code says phone
    if len(groups) < 3 or len(groups[-1]) < 3:
        return False  # "555 123 4567", "06-1234-5678": at least two separators, and a long last group
    if _DATE.search(text) or all(len(group) == 4 and _YEAR.fullmatch(group) for group in groups):
        return False  # a date ("2026-12-01 18") or a run of years
    if all(len(group) <= 2 for group in groups[:-1]) and len(groups) > 4:
        return False  # a run of small numbers ("12 15 18 21 240")
    # The label must stand right before the number ('Invoice no. 4417 ...'), so 'in case of need call ...' and
    # 'Order questions: phone ...' stay phones.
    return not _NOT_A_PHONE.search(match.string, max(0, match.start() - 48), match.start())


# In order: an IBAN or a card number must not be half-eaten by the phone pattern first.
CHECKS: list[tuple[str, re.Pattern, Callable[[re.Match], bool]]] = [
    ("email", EMAIL, lambda match: True),
    ("iban", IBAN, lambda match: iban_valid(match.group())),
    ("card", CARD, _is_card),
    ("phone", PHONE, _is_phone),
]


def redact(text: str, found: Counter | None = None, *, context: str = "") -> str:
    """``text`` with every e-mail address, IBAN, card and phone number replaced by a label; counts go to ``found``.

    ``context`` is what came just before ``text`` (already dealt with): read for labels such as "Order", never
    changed nor returned."""
    text = context + text
    start = len(context)
    for kind, pattern, valid in CHECKS:

        def replace(match: re.Match, kind: str = kind, valid: Callable[[re.Match], bool] = valid) -> str:
            if match.start() < start or not valid(match):
                return match.group()
            if found is not None:
                found[kind] += 1
            return LABELS[kind]

        text = pattern.sub(replace, text)
    return text[start:]


# A word that could be part of a phone, card or IBAN: has a digit, or is a short all-caps group ("WEST" in
# "GB82 WEST 1234 …"), or is a bracket or dash between digit groups.
_NUMBER_LIKE = re.compile(r"^(?=.*\d)[\w()+./-]+$|^[A-Z]{1,4}$|^[()+-]+$")
# The start of a number glued to what precedes it in the same word: "`4111", "IBAN=DE89", "**+44", "tel:0612".
_GLUED_START = re.compile(r"[^\w()+./-]((?=[\w()+./-]*\d)[\w()+./-]+)$")
_TRAILING = ".,;:!?`'\"*_]}>"  # punctuation that may close a number: "…1111`", "…0958**", "…00."
_TOKENS = re.compile(r"\S+|\s+")


def _hold_from(buffer: str) -> int:
    """Where the part of ``buffer`` that a later piece could still change begins: the word being written, and
    before it any run of number-like words (with the single spaces between them) it might continue."""
    tokens = list(_TOKENS.finditer(buffer))
    position = len(buffer)
    if tokens and not tokens[-1].group().isspace():  # the word being written: always wait for its end
        position = tokens.pop().start()
    while tokens:
        token = tokens.pop()
        text = token.group()
        if text.isspace():
            if "\n" in text or len(text) > 1:  # a line break or a wide gap ends any number
                break
            continue
        core = text.rstrip(_TRAILING)
        if _NUMBER_LIKE.match(core):
            position = token.start()
            continue
        if glued := _GLUED_START.search(core):  # a number may begin inside this word; the run ends there
            position = token.start() + glued.start(1)
        break
    return position


class StreamRedactor:
    """Feed pieces as they come; emits redacted text that is final. Call ``finish`` at the end for the rest."""

    CONTEXT_CHARS = 64  # of text already let through, read for labels ("Invoice no. …")

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled  # disabled: still holds back words (a canary check may need them), redacts nothing
        self.pending = ""
        self.context = ""
        self.found: Counter = Counter()

    def _redact(self, text: str) -> str:
        if not self.enabled or not text:
            return text
        redacted = redact(text, self.found, context=self.context)
        self.context = (self.context + text)[-self.CONTEXT_CHARS :]
        return redacted

    def feed(self, piece: str) -> str:
        self.pending += piece
        cut = _hold_from(self.pending)
        ready, self.pending = self.pending[:cut], self.pending[cut:]
        return self._redact(ready)

    def finish(self) -> str:
        ready, self.pending = self.pending, ""
        return self._redact(ready)
