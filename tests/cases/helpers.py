"""Sample files and form data for the case tests."""

from __future__ import annotations

import io
import re

from PIL import Image

CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"
NO_PAGES = b"<< /Type /Pages /Kids [] /Count 0 >>"


def pdf_document(*objects: bytes, trailer: bytes = b"/Root 1 0 R") -> bytes:
    """A well-formed PDF of ``objects`` (numbered from 1), with a correct xref table."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d %s >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, trailer, xref)
    return bytes(out)


PDF = pdf_document(CATALOG, NO_PAGES)


def jpeg_with_exif(size=(64, 48)) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x0110] = "Model 7"  # Model
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (40.0, 25.0, 1.0)
    output = io.BytesIO()
    image.save(output, "JPEG", exif=exif)
    data = output.getvalue()
    assert b"SpyCam" in data
    return data


def png(size=(10, 10)) -> bytes:
    output = io.BytesIO()
    Image.new("RGB", size, (0, 100, 0)).save(output, "PNG")
    return output.getvalue()


def complaint_form(**overrides) -> dict:
    data = {
        "subject": "Farola rota en la calle Mayor",
        "topic": "unknown",
        "body": "La farola frente al número 12 lleva dos semanas apagada.",
        "desired_outcome": "Que la reparen, por favor.",
        "location_text": "Calle Mayor 12",
        "latitude": "", "longitude": "",
        "contact_name": "María García",
        "contact_email": "maria@example.org",
        "contact_phone": "",
        "contact_preference": "email",
        "language": "es",
        "submission_token": "token-" + overrides.pop("token", "1"),
    }
    data.update(overrides)
    return data


def question_form(**overrides) -> dict:
    data = complaint_form(**overrides)
    data.pop("desired_outcome", None)
    if "subject" not in overrides:
        data["subject"] = "¿Cómo pido la tarjeta de aparcamiento?"
    return data


def files(*items):
    """Form values for the attachments field: (bytes, name) pairs as the client wants."""
    return [(io.BytesIO(data), name) for data, name in items]


REFERENCE = re.compile(r"[QC]-[0-9A-Z]{4}-[0-9A-Z]{4}")


def case_link(message: str) -> str:
    return re.search(r"http://localhost(/cases/\S+\?access=\S+)", message).group(1)
