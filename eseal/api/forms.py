"""Multipart forms whose text fields are read strictly in their charset.

Starlette reads a text field that is not valid in the form's charset (UTF-8 unless the
request's Content-Type names another) as Latin-1, without a word: a document name sent in
GB18030 by an older Chinese client would be sealed into a stamp as mojibake. Afterwards
that cannot be told apart from real text ("café" in UTF-8 and the GB18030 bytes of a
Chinese name both come out as Latin-1 letters), so the bytes are read here, while the
form is parsed: in the form's charset; in UTF-8 forms, bytes that are not UTF-8 as
GB18030, China's national encoding (as an uploaded file's name is read); anything else
is refused (400).

Routers that read forms use :class:`StrictFormRoute`; it hands their operations (and
their dependencies) a :class:`StrictFormRequest`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from contextlib import aclosing
from typing import Any

from fastapi import HTTPException, Request
from fastapi.routing import APIRoute
from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.responses import Response

#: How long a refused field's name may be in the answer.
_NAME_SHOWN = 40


class StrictMultiPartParser(MultiPartParser):
    """Starlette's parser, reading text fields as the module says."""

    def on_part_end(self) -> None:
        part = self._current_part
        if part.file is not None:
            super().on_part_end()
            return
        charset = self._charset or "utf-8"
        for encoding in (charset, "gb18030") if charset == "utf-8" else (charset,):
            try:
                text = bytes(part.data).decode(encoding)
            except UnicodeDecodeError:
                continue
            self.items.append((part.field_name, text))
            return
        name = part.field_name[:_NAME_SHOWN]
        raise MultiPartException(
            f"the form field {name!r} is in neither UTF-8 nor GB18030: send the form in "
            "UTF-8 (or name its charset in the Content-Type)"
            if charset == "utf-8"
            else f"the form field {name!r} is not {charset} text"
        )


class StrictFormRequest(Request):
    """A request whose multipart form is parsed by :class:`StrictMultiPartParser`."""

    async def _get_form(
        self,
        *,
        max_files: int | float = 1000,
        max_fields: int | float = 1000,
        max_part_size: int = 1024 * 1024,
    ) -> FormData:
        content_type = self.headers.get("content-type", "")
        if self._form is None and content_type.lower().startswith("multipart/form-data"):
            try:
                async with aclosing(self.stream()) as stream:
                    parser = StrictMultiPartParser(
                        self.headers,
                        stream,
                        max_files=max_files,
                        max_fields=max_fields,
                        max_part_size=max_part_size,
                    )
                    self._form = await parser.parse()
            except MultiPartException as exc:
                raise HTTPException(status_code=400, detail=exc.message) from exc
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
