"""Text extraction from uploaded files, in a child process with a time and memory bound.

``extract_file`` (the parent side) runs ``python -m documents.extraction <path> <kind> <max_chars>`` with an address
space limit and a timeout: a decompression bomb or a pathological PDF can only kill that child, never the worker.
The child prints JSON blocks: ``{"text", "page", "level"}`` where ``level`` marks headings (1-6) and 0 is body text.

The module imports no Django, so the child starts fast; ``html_blocks`` is also used for fetched web pages.
"""

import json
import re
import resource
import subprocess
import sys
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


def clean_text(text: str) -> str:
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub(" ", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _paragraph_blocks(text: str, page: int | None = None) -> list[dict]:
    return [{"text": part, "page": page, "level": 0} for part in re.split(r"\n\s*\n", clean_text(text)) if part.strip()]


def pdf_blocks(path: str) -> Extraction:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            raise ExtractionFailed("The PDF is password-protected; upload an unprotected copy.")
        extraction = Extraction(pages=len(reader.pages))
        for number, page in enumerate(reader.pages, start=1):
            extraction.blocks += _paragraph_blocks(page.extract_text() or "", page=number)
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ExtractionFailed(f"The PDF is damaged or not a PDF ({type(exc).__name__}).") from None
    if not any(block["text"] for block in extraction.blocks):
        raise ExtractionFailed("The PDF has no extractable text (is it a scan? OCR it first).")
    return extraction


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


def extract_local(path: str, kind: str, max_chars: int) -> Extraction:
    """Runs in the child process."""
    if kind == "pdf":
        extraction = pdf_blocks(path)
    elif kind == "docx":
        extraction = docx_blocks(path)
    elif kind == "md":
        extraction = markdown_blocks(_read_text(path))
    elif kind == "html":
        extraction = html_blocks(_read_text(path))
    else:
        extraction = Extraction(blocks=_paragraph_blocks(_read_text(path)))
    kept, total = [], 0
    for block in extraction.blocks:
        if total + len(block["text"]) > max_chars:
            extraction.truncated = True
            break
        kept.append(block)
        total += len(block["text"])
    extraction.blocks = kept
    if not kept:
        raise ExtractionFailed("The file contains no readable text.")
    return extraction


def _limit_child(memory_mb: int, cpu_seconds: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 1024 * 1024, memory_mb * 1024 * 1024))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))

    return apply


def extract_file(path: str, kind: str, *, max_chars: int, timeout: int, memory_mb: int) -> Extraction:
    """Extract in a bounded child process; ExtractionFailed with a readable reason on any failure."""
    command = [sys.executable, "-m", "documents.extraction", path, kind, str(max_chars)]
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            timeout=timeout,
            preexec_fn=_limit_child(memory_mb, timeout),
            cwd=PROJECT_ROOT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ExtractionFailed(f"Reading the file took longer than {timeout} s; it may be malformed.") from None
    if result.returncode != 0:
        try:
            message = json.loads(result.stdout)["error"]
        except (ValueError, KeyError, TypeError):
            message = "Reading the file used more memory or time than allowed; it may be malformed or too complex."
        raise ExtractionFailed(message)
    data = json.loads(result.stdout)
    return Extraction(blocks=data["blocks"], pages=data["pages"], truncated=data["truncated"], title=data["title"])


def _main(argv: list[str]) -> int:
    path, kind, max_chars = argv[0], argv[1], int(argv[2])
    try:
        extraction = extract_local(path, kind, max_chars)
    except ExtractionFailed as exc:
        sys.stdout.write(json.dumps({"error": str(exc)}))
        return 2
    except MemoryError:
        sys.stdout.write(json.dumps({"error": "The file needs more memory to read than allowed; it may be a bomb."}))
        return 3
    payload = {
        "blocks": extraction.blocks,
        "pages": extraction.pages,
        "truncated": extraction.truncated,
        "title": extraction.title,
    }
    sys.stdout.write(json.dumps(payload))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
