"""Limits on what a request may make us parse: form bodies, and numbers in URLs.

Werkzeug applies ``MAX_FORM_MEMORY_SIZE`` and ``MAX_FORM_PARTS`` to multipart bodies
only: an ``application/x-www-form-urlencoded`` body is read whole and split into as
many fields as it has ``&``, up to ``MAX_CONTENT_LENGTH`` (sized for attachments). Eight
such posts of 24 MB with 2.4 million fields kept every worker busy for most of a minute,
before the CSRF check could refuse them. Here a urlencoded body gets the same two
limits, as a whole: at most ``MAX_FORM_MEMORY_SIZE`` bytes and ``MAX_FORM_PARTS`` fields,
refused with 413 before it is split.

Every part of a URL is typed (tests/security/test_route_guard.py checks it): a number is
a database id, and the text parts have converters of their own below, so that text of
another shape never reaches a view.

A number in a URL or a query becomes a database id. PostgreSQL's ``integer`` stops at
2,147,483,647 and a larger one makes the query fail (a 500), and Python refuses to
read numbers of more than 4,300 digits: both are simply "not found" here.
"""

from __future__ import annotations

import io
from typing import IO

from flask import Request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.formparser import FormDataParser
from werkzeug.routing import BaseConverter, IntegerConverter

MAX_DATABASE_ID = 2**31 - 1  # PostgreSQL integer, the type of our primary keys


class CappedFormDataParser(FormDataParser):
    """Werkzeug's parser, with the form limits applied to urlencoded bodies too, and
    multipart parts without a readable name refused."""

    def _parse_multipart(self, stream: IO[bytes], mimetype: str, content_length: int | None,
                         options: dict[str, str]):
        stream, form, files = super()._parse_multipart(stream, mimetype, content_length,
                                                       options)
        if None in form or None in files:
            # Werkzeug names a part None when its name has a line break in it; nothing
            # after this expects that (the NUL check in portal.security failed with a
            # TypeError, a 500), and no browser sends one.
            for _name, upload in files.items(multi=True):
                upload.close()  # read already: their temporary files go with them
            raise BadRequest()
        return stream, form, files

    def _parse_urlencoded(self, stream: IO[bytes], mimetype: str, content_length: int | None,
                          options: dict[str, str]):
        limit = self.max_form_memory_size
        if limit is not None and content_length is not None and content_length > limit:
            raise RequestEntityTooLarge()  # refused without reading a byte of it
        body = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(body) > limit:
            raise RequestEntityTooLarge()  # a chunked body that said no length
        if self.max_form_parts is not None and body.count(b"&") >= self.max_form_parts:
            raise RequestEntityTooLarge()
        _, form, files = super()._parse_urlencoded(io.BytesIO(body), mimetype,
                                                   content_length, options)
        return stream, form, files


class PortalRequest(Request):
    """Flask's request, parsing forms with ``CappedFormDataParser``."""

    form_data_parser_class = CappedFormDataParser


class DatabaseIdConverter(IntegerConverter):
    """The ``int`` of our routes: a number that can be a database id, or no match (404)."""

    def __init__(self, map, *args, **kwargs) -> None:
        # Werkzeug refuses (as no match) what is past ``max`` or what int() cannot read.
        kwargs.setdefault("max", MAX_DATABASE_ID)
        super().__init__(map, *args, **kwargs)


class ReferenceConverter(BaseConverter):
    """A case reference as people type it (cases.references.normalise reads it): letters,
    digits and dashes, ``Q-7K3M-9XQD`` or ``q7k3m9xqd``."""

    regex = r"[0-9A-Za-z][0-9A-Za-z\-]{8,15}"


class TokenConverter(BaseConverter):
    """A signed token from an emailed link (itsdangerous, URL-safe base64 and dots)."""

    regex = r"[0-9A-Za-z_\-.]{16,1024}"


class SlugConverter(BaseConverter):
    """The words of an article's title in its URL (knowledge.service.slugify)."""

    regex = r"[0-9A-Za-z\-]{1,120}"


URL_CONVERTERS = {"int": DatabaseIdConverter, "reference": ReferenceConverter,
                  "token": TokenConverter, "slug": SlugConverter}


def whole_number(value: str | None, maximum: int = MAX_DATABASE_ID) -> int | None:
    """A number from 1 to ``maximum`` (by default, a possible database id) from a query
    value, or None if it is not one. ``str.isdigit`` is no guard: "²" is a digit."""
    if not value or len(value) > len(str(maximum)) or not value.isdecimal():
        return None
    number = int(value)
    return number if 0 < number <= maximum else None
