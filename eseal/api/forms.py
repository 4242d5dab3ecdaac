"""Multipart forms whose text (fields and file names) is read strictly, never guessed.

Starlette reads a text field that is not valid in the form's charset as Latin-1, and an
unknown charset as Latin-1 too, without a word: a document name sent in GB18030 by an
older Chinese client would be sealed into a stamp as mojibake. Afterwards that cannot be
told apart from real text ("café" in UTF-8 and the GB18030 bytes of a Chinese name both
come out as Latin-1 letters), so the bytes are read here, while the form is parsed, by
:func:`client_text`: in the charset the form's Content-Type names, if it names one (one
of the ASCII-compatible encodings clients send, else 400); otherwise in UTF-8, or else
in GB18030, China's national encoding, where that reading is unambiguous; anything else
is refused (400).
"Unambiguous" is a rule of thumb: Latin-1 text with two accented letters in a row can
still read as a Chinese character, so clients should send UTF-8.

Routers that read forms use :class:`StrictFormRoute`; it hands their operations (and
their dependencies) a :class:`StrictFormRequest`.
"""

from __future__ import annotations

import codecs
from collections.abc import AsyncGenerator, Callable, Coroutine
from contextlib import aclosing
from typing import Any, Final

from fastapi import HTTPException, Request
from fastapi.routing import APIRoute
from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData, Headers
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.responses import Response

from eseal.api import problem_types

#: How long a refused field's name may be in the answer.
_NAME_SHOWN = 40


#: The charsets a form may name, by Python codec name: encodings a browser or client
#: really sends, each ASCII-compatible (ASCII bytes read as ASCII whatever the charset,
#: unlike UTF-7 or unicode_escape, which turn ASCII a proxy or a log sees into other text).
#: GBK and GB 2312, as clients label GBK, read as GB18030, their superset.
_FORM_CHARSETS: Final = {
    "utf-8": "utf-8",
    "gb18030": "gb18030",
    "gbk": "gb18030",
    "gb2312": "gb18030",
    "big5": "big5",
    "big5hkscs": "big5hkscs",
    "cp950": "cp950",
    "shift_jis": "shift_jis",
    "cp932": "cp932",
    "ascii": "ascii",
    "euc_jp": "euc_jp",
    "euc_kr": "cp949",  # as GBK to GB18030: its superset, which clients send under the label
    "cp949": "cp949",
    "cp874": "cp874",
    **{f"iso8859-{n}": f"iso8859-{n}" for n in (*range(1, 12), 13, 14, 15, 16)},
    **{f"cp{n}": f"cp{n}" for n in range(1250, 1259)},
    "koi8-r": "koi8-r",
    "koi8-u": "koi8-u",
}


#: Labels browsers use (WHATWG Encoding) that Python's codecs do not know.
_LABELS: Final = {
    "x-gbk": "gbk",
    "windows-936": "gbk",
    "csgb2312": "gbk",
    "gb_2312": "gbk",
    "gb_2312-80": "gbk",
    "x-mswin-936": "gbk",
    "x-euc-cn": "gbk",
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "x-x-big5": "big5",
    "windows-950": "cp950",
    "x-windows-950": "cp950",
    "ms950": "cp950",
    "windows-949": "cp949",
    "x-windows-949": "cp949",
}


class FormUnreadable(HTTPException):
    """A multipart body that is no form (no boundary, a part without headers), names a
    charset that is no text encoding clients send, or holds a text field that is not text
    in it: a 400 problem of its own type. An HTTPException, since FastAPI answers any other
    exception raised while it parses a body with a 400 of its own."""

    code = problem_types.FORM_UNREADABLE.code
    title = "The multipart form cannot be read."

    def __init__(self, detail: str) -> None:
        super().__init__(400, detail)


def declared_charset(content_type: str) -> str | None:
    """The codec name of the charset a form's Content-Type names, or None if it names
    none; a 400 if it names none of :data:`_FORM_CHARSETS` (Starlette would read an
    unknown one as Latin-1, and fail on "base64")."""
    charset = parse_options_header(content_type)[1].get(b"charset")
    if charset is None:
        return None
    name = charset.decode("latin-1")
    try:
        codec = codecs.lookup(_LABELS.get(name.strip().lower(), name)).name
    except LookupError:
        codec = ""
    if codec not in _FORM_CHARSETS:
        raise FormUnreadable(f"the form's charset {name[:_NAME_SHOWN]!r} is not known")
    return _FORM_CHARSETS[codec]


def _unambiguous_gb18030(data: bytes) -> str | None:
    """``data`` as GB18030 if it is that and every character outside ASCII is two bytes
    above ASCII (all of GB 2312's, the common ones): a byte above 0x80 followed by an ASCII
    letter is more likely Latin-1 ("Müller" would read as "M黮ler"), and four-byte forms
    take ASCII digits."""
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        return None
    for char in text:
        if char >= "\x80":
            encoded = char.encode("gb18030")
            if len(encoded) != 2 or encoded[1] < 0x80:
                return None
    return text


def client_text(data: bytes, charset: str | None) -> str | None:
    """Text a client sent in a form: in ``charset`` if the form names one; else UTF-8, or
    GB18030 where unambiguous (see :func:`_unambiguous_gb18030`). None if it is neither."""
    if charset is not None:
        try:
            return data.decode(charset)
        except UnicodeError:
            return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return _unambiguous_gb18030(data)


class StrictMultiPartParser(MultiPartParser):
    """Starlette's parser, reading text fields with :func:`client_text`."""

    def __init__(
        self,
        headers: Headers,
        stream: AsyncGenerator[bytes, None],
        *,
        charset: str | None,
        max_files: int | float,
        max_fields: int | float,
        max_part_size: int,
    ) -> None:
        super().__init__(
            headers,
            stream,
            max_files=max_files,
            max_fields=max_fields,
            max_part_size=max_part_size,
        )
        self.declared = charset

    def on_part_end(self) -> None:
        part = self._current_part
        if part.file is not None:
            super().on_part_end()
            return
        text = client_text(bytes(part.data), self.declared)
        if text is None:
            name = part.field_name[:_NAME_SHOWN]
            raise MultiPartException(
                f"the form field {name!r} is not {self.declared} text"
                if self.declared
                else f"the form field {name!r} is in neither UTF-8 nor GB18030: send the "
                "form in UTF-8 (or name its charset in the Content-Type)"
            )
        self.items.append((part.field_name, text))


class StrictFormRequest(Request):
    """A request whose multipart form is parsed by :class:`StrictMultiPartParser`."""

    @property
    def form_charset(self) -> str | None:
        """The charset the form's Content-Type names (see :func:`declared_charset`)."""
        return declared_charset(self.headers.get("content-type", ""))

    async def _get_form(
        self,
        *,
        max_files: int | float = 1000,
        max_fields: int | float = 1000,
        max_part_size: int = 1024 * 1024,
    ) -> FormData:
        content_type = self.headers.get("content-type", "")
        if self._form is None and content_type.lower().startswith("multipart/form-data"):
            charset = self.form_charset
            try:
                async with aclosing(self.stream()) as stream:
                    parser = StrictMultiPartParser(
                        self.headers,
                        stream,
                        charset=charset,
                        max_files=max_files,
                        max_fields=max_fields,
                        max_part_size=max_part_size,
                    )
                    self._form = await parser.parse()
            except MultiPartException as exc:
                raise FormUnreadable(exc.message) from exc
        return await super()._get_form(
            max_files=max_files, max_fields=max_fields, max_part_size=max_part_size
        )


class StrictFormRoute(APIRoute):
    """An API route whose operation sees a :class:`StrictFormRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictFormRequest(request.scope, request.receive))

        return strict_handler
