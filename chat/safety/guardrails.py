"""Guardrails around every model call: what goes in (prompt checks) and what comes out (redaction, canary).

Input: before any model call a prompt is checked for size, for prompt-injection patterns (instruction override,
system-prompt extraction, role-play jailbreaks, and the same hidden in base64 or hex) and for the blocked topics
admins configure. Text is normalised first (Unicode NFKC, invisible characters removed, case folded), so "ıgnore
prev\u200bious instructions" reads like what it is.

Output: ``OutputGuard`` filters the stream: PII is redacted across token boundaries (``chat.redaction``) and the
canary planted in our system prompt is watched for; if the model starts to reveal it, the answer is cut there.
"""

import base64
import binascii
import re
import secrets
import unicodedata
from collections import Counter
from dataclasses import dataclass

from chat.safety.redaction import StreamRedactor

# Zero-width characters, bidi controls and Unicode "tag" characters (U+E0000–E007F): invisible to a reader, but a
# model reads them, so they can smuggle instructions through documents, web pages and prompts.
INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\U000e0000-\U000e007f]")


def strip_invisible(text: str) -> str:
    return INVISIBLE.sub("", text)


def as_data(text: str) -> str:
    """Retrieved or fetched text, made safe to quote to the model as data: no invisible characters."""
    return strip_invisible(text)


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", strip_invisible(text)).casefold()
    return re.sub(r"\s+", " ", text)


# --- prompt injection ---------------------------------------------------------------------------------------------

_EARLIER = r"(?:previous|prior|above|earlier|preceding|initial|original|system|all|any|your)"
_RULES = r"(?:instructions?|prompts?|rules|directions|guidelines|context|messages?|programming|restrictions)"
INJECTION_PATTERNS: dict[str, list[re.Pattern]] = {
    "instruction_override": [
        re.compile(
            rf"\b(?:ignore|disregard|forget|override|bypass|skip)\b(?: \w+){{0,3}} {_EARLIER}(?: \w+){{0,2}} {_RULES}"
        ),
        re.compile(r"\bforget (?:everything|all) (?:you were told|above|before)"),
        re.compile(r"\b(?:new|updated|real) (?:system )?instructions?:"),
        re.compile(r"\bfrom now on,? you (?:will|must|are to) (?:ignore|disregard|obey only)"),
    ],
    "system_prompt_extraction": [
        re.compile(
            r"\b(?:reveal|show|print|repeat|output|display|tell me|give me|leak|dump|spell out|write out|recite)\b"
            r"(?: \w+){0,4} (?:system|initial|hidden|secret|original|developer|first)"
            r" (?:prompt|instructions?|message|rules|directives)"
        ),
        re.compile(r"\bwhat (?:are|were|is) your (?:system |initial |hidden |original )?(?:instructions|prompt)\b"),
        re.compile(r"\b(?:repeat|print|output) (?:everything|all|the text|the words) (?:above|before|so far)\b"),
    ],
    "role_play_jailbreak": [
        re.compile(r"\b(?:do anything now|developer mode (?:enabled|on|activated)|jailbreak(?:ed)? mode|god mode)\b"),
        re.compile(r"\byou are (?:now )?(?:dan|an? (?:unfiltered|uncensored|unrestricted|evil|unaligned))\b"),
        re.compile(
            r"\b(?:pretend|act|roleplay|role-play|imagine)\b(?: \w+){0,4} (?:as |to be |you are |you're )?(?:an? )?"
            r"(?:\w+ ){0,2}(?:ai|assistant|model|chatbot|character)?(?: \w+){0,3}"
            r" (?:without|with no|free of|that has no|who has no|ignoring) (?:any )?"
            r"(?:restrictions|rules|limits|filters|guidelines|ethics|morals|censorship)"
        ),
        re.compile(
            r"\b(?:no longer|not) (?:bound|restricted|limited) by (?:any |your )?"
            r"(?:rules|guidelines|policies|restrictions)"
        ),
    ],
}
_BASE64 = re.compile(r"[A-Za-z0-9+/]{24,}={0,2}")
_HEX = re.compile(r"\b(?:[0-9a-fA-F]{2}[\s:]?){16,}\b")


@dataclass(frozen=True)
class Finding:
    check: str  # "injection", "blocked_topic"
    category: str  # e.g. "instruction_override", or the topic's name
    evidence: str  # the matched text (shortened), for the moderator


def _match(text: str) -> Finding | None:
    for category, patterns in INJECTION_PATTERNS.items():
        for pattern in patterns:
            if found := pattern.search(text):
                return Finding("injection", category, found.group()[:120])
    return None


def _decoded_payloads(text: str) -> list[str]:
    """Text hidden in base64 or hex inside the prompt, decoded (what a model asked to 'decode and follow' reads)."""
    payloads = []
    for blob in _BASE64.findall(text):
        try:
            payloads.append(base64.b64decode(blob + "=" * (-len(blob) % 4), validate=False).decode("utf-8"))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
    for blob in _HEX.findall(text):
        try:
            payloads.append(bytes.fromhex(re.sub(r"[\s:]", "", blob)).decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            continue
    return payloads


def find_injection(text: str) -> Finding | None:
    if found := _match(normalise(text)):
        return found
    for payload in _decoded_payloads(text):
        if found := _match(normalise(payload)):
            return Finding("injection", f"encoded_{found.category}", found.evidence)
    return None


def find_blocked_topic(text: str, topics: list[tuple[str, list[re.Pattern]]]) -> Finding | None:
    normalised = normalise(text)
    for name, patterns in topics:
        for pattern in patterns:
            if found := pattern.search(normalised):
                return Finding("blocked_topic", name, found.group()[:120])
    return None


# --- output ---------------------------------------------------------------------------------------------------------


def new_canary() -> str:
    # Looks like nothing a model would write by chance, and is one "word", so the stream holds it back whole.
    return f"GS-CANARY-{secrets.token_hex(6).upper()}"


def without_canary(text: str, canary: str | None) -> str:
    """``text`` with the canary taken out (it differs per request by design: caches must not see it)."""
    return re.sub(re.escape(canary), "", text, flags=re.IGNORECASE) if canary else text


class CanaryLeak(Exception):
    """The model started to reveal the protected system prompt."""


class OutputGuard:
    """Filters an answer's stream: redacts PII across pieces and cuts the answer before a leaked canary."""

    def __init__(self, canary: str | None = None, *, redact_pii: bool = True) -> None:
        self.redactor = StreamRedactor(enabled=redact_pii)
        self.canary = canary.casefold() if canary else None
        self.leaked = False
        self.shown_tail = ""  # the end of what was already let through: a canary may straddle it

    @property
    def redactions(self) -> Counter:
        return self.redactor.found

    def _check_canary(self) -> None:
        if self.canary is None:
            return
        recent = (self.shown_tail + self.redactor.pending).casefold()
        if self.canary in recent or self.canary in re.sub(r"\s+", "", recent):
            self.leaked = True
            raise CanaryLeak

    def withheld(self) -> str:
        """What is held back right now (after a ``CanaryLeak``: the text that began the leak)."""
        return self.redactor.pending

    def feed(self, piece: str) -> str:
        """Text that may be shown now (possibly empty). Raises ``CanaryLeak`` instead of showing the canary."""
        self.redactor.pending += piece
        self._check_canary()
        return self._shown(self.redactor.feed(""))

    def _shown(self, text: str) -> str:
        if self.canary is not None and text:
            self.shown_tail = (self.shown_tail + text)[-2 * len(self.canary) :]
        return text

    def finish(self) -> str:
        self._check_canary()
        return self._shown(self.redactor.finish())
