"""PII redaction: e-mail addresses, phone numbers, IBANs and payment card numbers, in text and in streams.

``redact`` rewrites a finished text. ``StreamRedactor`` does the same for text arriving in pieces: a piece is let
through only once nothing after it could still turn it into part of a match, so an address split across model
tokens ("jane.doe@" + "example.com") is caught whole. Held back is at most the trailing run of number-like words
and the word being written, so the stream lags by a word or two, never by a sentence.

Numbers are checked, not just shaped: IBANs must pass ISO 7064 mod 97, card numbers the Luhn check, and phone
numbers need 9 to 15 digits written in a phone-like way, so years, amounts and ids stay as they are.
"""

import re
from collections import Counter
from collections.abc import Callable

EMAIL = re.compile(r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ -]?)?(?:\(\d{1,4}\)[ -]?)?\d{2,5}(?:[ -]\d{2,5}){1,4}(?![\w-])")
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


def _is_card(match: str) -> bool:
    return 13 <= len(_digits(match)) <= 19 and luhn_valid(_digits(match))


def _is_phone(match: str) -> bool:
    # A leading "+" or "(…)" says phone; otherwise ask for at least two separators ("555 123 4567", "06-1234-5678").
    phone_like = match.startswith(("+", "(")) or len(re.findall(r"[ -]", match)) >= 2
    return 9 <= len(_digits(match)) <= 15 and phone_like


# In order: an IBAN or a card number must not be half-eaten by the phone pattern first.
CHECKS: list[tuple[str, re.Pattern, Callable[[str], bool]]] = [
    ("email", EMAIL, lambda match: True),
    ("iban", IBAN, iban_valid),
    ("card", CARD, _is_card),
    ("phone", PHONE, _is_phone),
]


def redact(text: str, found: Counter | None = None) -> str:
    """``text`` with every e-mail address, IBAN, card and phone number replaced by a label; counts go to ``found``."""
    for kind, pattern, valid in CHECKS:

        def replace(match: re.Match, kind: str = kind, valid: Callable[[str], bool] = valid) -> str:
            if not valid(match.group()):
                return match.group()
            if found is not None:
                found[kind] += 1
            return LABELS[kind]

        text = pattern.sub(replace, text)
    return text


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

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled  # disabled: still holds back words (a canary check may need them), redacts nothing
        self.pending = ""
        self.found: Counter = Counter()

    def _redact(self, text: str) -> str:
        return redact(text, self.found) if self.enabled and text else text

    def feed(self, piece: str) -> str:
        self.pending += piece
        cut = _hold_from(self.pending)
        ready, self.pending = self.pending[:cut], self.pending[cut:]
        return self._redact(ready)

    def finish(self) -> str:
        ready, self.pending = self.pending, ""
        return self._redact(ready)
