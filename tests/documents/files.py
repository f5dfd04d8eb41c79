"""Real files for tests: PDFs with known text on known pages, Word documents, and hostile archives."""

import io
import zipfile
import zlib
from collections.abc import Callable

import docx


def _pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _assemble_pdf(objects: list[bytes]) -> bytes:
    """Objects 1..n (1 is the catalog) with a correct cross-reference table."""
    body = io.BytesIO()
    body.write(b"%PDF-1.4\n")
    offsets = []
    for index, obj in enumerate(objects, start=1):
        offsets.append(body.tell())
        body.write(f"{index} 0 obj\n".encode() + obj + b"\nendobj\n")
    xref = body.tell()
    body.write(f"xref\n0 {len(offsets) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        body.write(f"{offset:010d} 00000 n \n".encode())
    body.write(f"trailer\n<< /Size {len(offsets) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return body.getvalue()


def _stream(content: bytes, *, flate: bool = False) -> bytes:
    extra = b" /Filter /FlateDecode" if flate else b""
    return b"<< /Length %d%s >>\nstream\n" % (len(content), extra) + content + b"\nendstream"


def _page(content_object: int) -> bytes:
    return (
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
        b"/Contents %d 0 R >>" % content_object
    )


def _text_page(text: str) -> Callable[[int], list[bytes]]:
    def objects(first: int) -> list[bytes]:
        lines = [f"({_pdf_escape(line)}) Tj 0 -16 Td" for line in text.split("\n")]
        return [_page(first + 1), _stream(("BT /F1 12 Tf 72 740 Td " + " ".join(lines) + " ET").encode())]

    return objects


def _pdf(pages: list[Callable[[int], list[bytes]]]) -> bytes:
    """Each page is built by a function given the number of its first object."""
    objects = [b"", b"", b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for build in pages:
        kids.append(f"{len(objects) + 1} 0 R")
        objects += build(len(objects) + 1)
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>".encode()
    return _assemble_pdf(objects)


def make_pdf(pages: list[str]) -> bytes:
    """A valid PDF, one page per string (lines split on newlines), Helvetica text that pypdf extracts."""
    return _pdf([_text_page(text) for text in pages])


def _bomb_page(megabytes: int) -> Callable[[int], list[bytes]]:
    def objects(first: int) -> list[bytes]:
        compressor = zlib.compressobj(9)
        data = b"".join(compressor.compress(b"0" * 1_048_576) for _ in range(megabytes)) + compressor.flush()
        return [_page(first + 1), _stream(data, flate=True)]

    return objects


def pdf_with_bomb_page(pages: list[str], *, megabytes: int = 100) -> bytes:
    """Readable pages, then one whose content inflates past pypdf's decompression limit (LimitReachedError)."""
    return _pdf([*(_text_page(text) for text in pages), _bomb_page(megabytes)])


def _slow_page(depth: int, moves: int) -> Callable[[int], list[bytes]]:
    """A page drawing a form that draws the next form twice, ``depth`` levels down: thousands of invocations of a
    leaf of ``moves`` text moves. Tiny and light on memory, but minutes of work for a text extractor."""

    def objects(first: int) -> list[bytes]:
        page = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> "
            b"/XObject << /X %d 0 R >> >> /Contents %d 0 R >>" % (first + 2, first + 1)
        )
        built = [page, _stream(b"/X Do /X Do")]
        for level in range(depth):
            if level < depth - 1:
                content, resources = b"/X Do /X Do", b"<< /XObject << /X %d 0 R >> >>" % (first + 3 + level)
            else:
                content = b"BT /F1 12 Tf 72 740 Td (deep) Tj " + b"0 0 Td " * moves + b"ET"
                resources = b"<< /Font << /F1 3 0 R >> >>"
            form = b"<< /Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources %s /Length %d >>\n"
            built.append(form % (resources, len(content)) + b"stream\n" + content + b"\nendstream")
        return built

    return objects


def pdf_with_slow_page(pages: list[str]) -> bytes:
    """Readable pages, then one that takes a text extractor minutes (far past any extraction time budget)."""
    return _pdf([*(_text_page(text) for text in pages), _slow_page(depth=13, moves=2000)])


def pdf_bomb(megabytes: int = 400) -> bytes:
    """A one-page PDF whose content stream inflates to hundreds of megabytes."""
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(b"0" * 1_048_576) for _ in range(megabytes)) + compressor.flush()
    return _assemble_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            _page(5),
            _stream(data, flate=True),
        ]
    )


def make_docx(sections: list[tuple[str, list[str]]]) -> bytes:
    """A Word document: each section a Heading 1 and its paragraphs."""
    document = docx.Document()
    for heading, paragraphs in sections:
        document.add_heading(heading, level=1)
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def docx_bomb(megabytes: int = 40) -> bytes:
    """A zip that passes for a DOCX and hides a part inflating far beyond its size."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
        with archive.open("word/media/padding.bin", "w") as part:
            for _ in range(megabytes):
                part.write(b"\0" * 1_048_576)
    return out.getvalue()


def docx_with_many_parts(count: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
        for index in range(count):
            archive.writestr(f"word/part{index}.xml", "x")
    return out.getvalue()
