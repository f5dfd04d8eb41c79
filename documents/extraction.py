"""Text extraction from uploaded files, in a child process with a time and memory bound.

``extract_file`` (the parent side) runs ``python -m documents.extraction <path> <kind> <max_chars> <max_pages>`` with
an address space limit and a timeout: a decompression bomb or a pathological PDF can only kill that child, never the
worker. Blocks are ``{"text", "page", "level"}`` where ``level`` marks headings (1-6) and 0 is body text.

The child streams one JSON object per line as it reads (``{"pages"}``, ``{"block"}``, then ``{"end"}`` or
``{"error"}``), a PDF page by page. Whatever stops it part way — the character or page cap, a page pypdf cannot read,
the time or memory bound killing it — the text read until then is kept, with a note saying which limit was hit.

The module imports no Django, so the child starts fast; ``html_blocks`` is also used for fetched web pages.
"""

import json
import re
import resource
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Zero-width characters, bidi controls and Unicode tag characters: invisible, and a classic way to smuggle
# instructions past a reader into a model's context.
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\U000e0000-\U000e007f]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\u00a0]+")
_DROPPED_TAGS = ["script", "style", "noscript", "template", "nav", "footer", "header", "aside", "form", "iframe", "svg"]
_BLOCK_TAGS = ["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "blockquote", "td", "th", "dt", "dd", "figcaption"]


class ExtractionFailed(Exception):
    """The file could not be read; the message says why, for the user."""


@dataclass
class Extraction:
    blocks: list[dict] = field(default_factory=list)
    pages: int | None = None
    truncated: bool = False
    title: str = ""
    note: str = ""  # why only part of the file was read, for the user; empty when all of it was

    def stop(self, note: str) -> None:
        self.truncated, self.note = True, note


# What the child sends up the pipe as it reads (see the module docstring); in-process callers ignore it.
Send = Callable[..., None]


def _send_nothing(**item: object) -> None:
    return None


def clean_text(text: str) -> str:
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub(" ", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# Where a text cut at the cap may end, best first, and how far back from the cap each is looked for: a little text
# is given up for a whole paragraph or sentence, never a large part of what the cap allows.
_CUT_AT = [
    (re.compile(r"\n\s*\n"), 2000),
    (re.compile(r"\n"), 1000),
    (re.compile(r"[.!?…][\"'”’)\]]*\s"), 1000),
    (re.compile(r"\s"), 100),
]


def cut_text(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, ending at the end of a paragraph, line, sentence or word if one is
    near the limit (else exactly at it)."""
    if len(text) <= limit:
        return text
    head = text[: limit + 1]  # a space right after the limit still ends a word
    for boundary, reach in _CUT_AT:
        window = max(limit - min(reach, limit // 2), 0)
        ends = [match.end() for match in boundary.finditer(head, window)]
        if ends and head[: ends[-1]].strip():
            return head[: ends[-1]].rstrip()
    return text[:limit]


def _paragraph_blocks(text: str, page: int | None = None) -> list[dict]:
    return [{"text": part, "page": page, "level": 0} for part in re.split(r"\n\s*\n", clean_text(text)) if part.strip()]


def _pages(extraction: Extraction, last_page: int) -> str:
    return f"pages 1–{last_page} of {extraction.pages}" if last_page > 1 else f"page 1 of {extraction.pages}"


def _only_read(extraction: Extraction, last_page: int | None) -> str:
    if not last_page or not extraction.pages:
        return "Only the first part of the file was read"
    return f"Only {_pages(extraction, last_page)} {'were' if last_page > 1 else 'was'} read"


def pdf_blocks(
    path: str, extraction: Extraction, *, max_pages: int | None = None, send: Send = _send_nothing
) -> Iterator[dict]:
    """Yield the blocks of a PDF page by page. A page pypdf cannot read (damaged, or past one of its limits) ends the
    reading there, with a note; so does ``max_pages``. Sets ``extraction.pages`` to the file's page count."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError, PyPdfError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            raise ExtractionFailed("The PDF is password-protected; upload an unprotected copy.")
        extraction.pages = len(reader.pages)
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise ExtractionFailed(f"The PDF is damaged or not a PDF ({type(exc).__name__}).") from None
    send(pages=extraction.pages)
    last = min(extraction.pages, max_pages or extraction.pages)
    found_text = False
    for number in range(1, last + 1):
        try:
            blocks = _paragraph_blocks(reader.pages[number - 1].extract_text() or "", page=number)
        except Exception as exc:  # pypdf raises many types (its own limits included) for a page it cannot read
            if not found_text:
                raise ExtractionFailed(
                    f"The PDF is damaged or too complex to read (page {number}: {type(exc).__name__})."
                ) from None
            damaged = f"page {number} is damaged or too complex to read ({type(exc).__name__})"
            extraction.stop(f"{_only_read(extraction, number - 1)}: {damaged}.")
            return
        found_text = found_text or bool(blocks)
        yield from blocks
    if not found_text:
        raise ExtractionFailed("The PDF has no extractable text (is it a scan? OCR it first).")
    if last < extraction.pages:
        extraction.stop(f"{_only_read(extraction, last)}: at most {last:,} pages are read per PDF.")


def docx_blocks(path: str) -> Extraction:
    import docx

    try:
        document = docx.Document(path)
    except Exception as exc:  # python-docx raises many types for a damaged file
        raise ExtractionFailed(f"The Word document is damaged ({type(exc).__name__}).") from None
    extraction = Extraction()
    for paragraph in document.paragraphs:
        text = clean_text(paragraph.text)
        if not text:
            continue
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        level = 1 if style == "Title" else int(style[8:]) if style.startswith("Heading ") and style[8:].isdigit() else 0
        extraction.blocks.append({"text": text, "page": None, "level": min(level, 6)})
    for table in document.tables:
        for row in table.rows:
            cells = " | ".join(clean_text(cell.text) for cell in row.cells if cell.text.strip())
            if cells:
                extraction.blocks.append({"text": cells, "page": None, "level": 0})
    return extraction


def markdown_blocks(text: str) -> Extraction:
    extraction = Extraction()
    for part in re.split(r"\n\s*\n|\n(?=#{1,6} )", clean_text(text)):
        heading = re.match(r"^(#{1,6})\s+(.+)$", part.strip())
        if heading and "\n" not in part.strip():
            extraction.blocks.append({"text": heading.group(2).strip(), "page": None, "level": len(heading.group(1))})
        elif part.strip():
            extraction.blocks.append({"text": part.strip(), "page": None, "level": 0})
    return extraction


def html_blocks(html: str) -> Extraction:
    """The main text of a page: scripts, styles, navigation and footers dropped; <article> or <main> preferred."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "lxml")
    title = clean_text(soup.title.get_text(" ")) if soup.title else ""
    for tag in soup(_DROPPED_TAGS):
        tag.decompose()
    root = soup.find("article") or soup.find("main") or soup.body or soup
    extraction = Extraction(title=title[:300])
    for element in root.find_all(_BLOCK_TAGS):
        if element.find(_BLOCK_TAGS):
            continue  # a container: its inner blocks are taken one by one
        text = clean_text(element.get_text(" "))
        if text:
            level = int(element.name[1]) if element.name in ("h1", "h2", "h3", "h4", "h5", "h6") else 0
            extraction.blocks.append({"text": text, "page": None, "level": level})
    if not extraction.blocks:
        extraction.blocks = _paragraph_blocks(root.get_text("\n"))
    return extraction


def _read_text(path: str) -> str:
    with open(path, "rb") as handle:
        raw = handle.read()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _blocks_of(path: str, kind: str, extraction: Extraction, max_pages: int | None, send: Send) -> Iterator[dict]:
    if kind == "pdf":
        return pdf_blocks(path, extraction, max_pages=max_pages, send=send)
    if kind == "docx":
        whole = docx_blocks(path)
    elif kind == "md":
        whole = markdown_blocks(_read_text(path))
    elif kind == "html":
        whole = html_blocks(_read_text(path))
    else:
        whole = Extraction(blocks=_paragraph_blocks(_read_text(path)))
    extraction.title = whole.title
    return iter(whole.blocks)


def extract_local(
    path: str, kind: str, max_chars: int, *, max_pages: int | None = None, send: Send = _send_nothing
) -> Extraction:
    """Runs in the child process: at most ``max_chars`` characters, the block that reaches the cap cut short."""
    extraction = Extraction()
    room = max_chars
    for block in _blocks_of(path, kind, extraction, max_pages, send):
        if len(block["text"]) > room:
            part = cut_text(block["text"], room)
            if part:
                _keep(extraction, block | {"text": part}, send)
            where = f" ({_pages(extraction, block['page'])})" if block["page"] and extraction.pages else ""
            extraction.stop(f"Only the first {max_chars:,} characters were read{where}: that is the limit per file.")
            break  # a PDF is not read further
        _keep(extraction, block, send)
        room -= len(block["text"])
    if not extraction.blocks:
        raise ExtractionFailed("The file contains no readable text.")
    return extraction


def _keep(extraction: Extraction, block: dict, send: Send) -> None:
    extraction.blocks.append(block)
    send(block=block)


def _limit_child(memory_mb: int, cpu_seconds: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 1024 * 1024, memory_mb * 1024 * 1024))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))

    return apply


def extract_file(
    path: str, kind: str, *, max_chars: int, timeout: int, memory_mb: int, max_pages: int | None = None
) -> Extraction:
    """Extract in a bounded child process; ExtractionFailed with a readable reason when nothing could be read."""
    command = [sys.executable, "-m", "documents.extraction", path, kind, str(max_chars), str(max_pages or 0)]
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            timeout=timeout,
            preexec_fn=_limit_child(memory_mb, timeout),
            cwd=PROJECT_ROOT,
            check=False,
        )
        output, timed_out, returncode = result.stdout, False, result.returncode
    except subprocess.TimeoutExpired as exc:
        output, timed_out, returncode = exc.stdout or b"", True, None
    extraction, ended, error = _read_stream(output)
    if ended:
        return extraction
    if not extraction.blocks:
        if error:
            raise ExtractionFailed(error)
        if timed_out:
            raise ExtractionFailed(f"Reading the file took longer than {timeout} s; it may be malformed.")
        raise ExtractionFailed(
            "Reading the file used more memory or time than allowed; it may be malformed or too complex."
        )
    # Stopped part way with text read: keep it, and say what stopped it.
    if error:
        reason = error.rstrip(".")
    elif timed_out:
        reason = f"reading took longer than {timeout} s"
    else:
        reason = _stop_reason(returncode)
    last_page = max((block["page"] or 0 for block in extraction.blocks), default=0)
    extraction.stop(f"{_only_read(extraction, last_page)}: {reason}.")
    return extraction


def _stop_reason(returncode: int | None) -> str:
    if returncode == -signal.SIGXCPU:
        return "reading used more processor time than allowed"
    if returncode is not None and returncode < 0:
        return "reading needed more memory than allowed"  # the kernel's answer to a bomb: a signal, not an error
    return "the reader stopped on an unexpected error"


def _read_stream(output: bytes) -> tuple[Extraction, bool, str]:
    """What the child sent: the extraction so far, whether it finished, and its error message if it sent one. A
    child killed mid-write leaves an incomplete last line, which is skipped."""
    extraction, ended, error = Extraction(), False, ""
    for line in output.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if "block" in item:
            extraction.blocks.append(item["block"])
        elif "pages" in item:
            extraction.pages = item["pages"]
        elif "end" in item:
            ended = True
            extraction.title, extraction.truncated, extraction.note = item["title"], item["truncated"], item["note"]
        elif "error" in item:
            error = item["error"]
    return extraction, ended, error


def _main(argv: list[str]) -> int:
    path, kind, max_chars, max_pages = argv[0], argv[1], int(argv[2]), int(argv[3]) or None

    def send(**item: object) -> None:
        # Flushed line by line: if a limit kills this process, the parent still has every line sent before.
        sys.stdout.write(json.dumps(item) + "\n")
        sys.stdout.flush()

    try:
        extraction = extract_local(path, kind, max_chars, max_pages=max_pages, send=send)
    except ExtractionFailed as exc:
        send(error=str(exc))
        return 2
    except MemoryError:
        send(error="The file needs more memory to read than allowed; it may be a bomb.")
        return 3
    send(end=True, title=extraction.title, truncated=extraction.truncated, note=extraction.note)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
