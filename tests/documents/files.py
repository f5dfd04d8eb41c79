"""Real files for tests: PDFs with known text on known pages, Word documents, and hostile archives."""

import io
import zipfile
import zlib

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


def make_pdf(pages: list[str]) -> bytes:
    """A valid PDF, one page per string (lines split on newlines), Helvetica text that pypdf extracts."""
    objects = [b"", b"", b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for text in pages:
        page_object = len(objects) + 1
        kids.append(f"{page_object} 0 R")
        lines = [f"({_pdf_escape(line)}) Tj 0 -16 Td" for line in text.split("\n")]
        objects += [_page(page_object + 1), _stream(("BT /F1 12 Tf 72 740 Td " + " ".join(lines) + " ET").encode())]
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>".encode()
    return _assemble_pdf(objects)


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
