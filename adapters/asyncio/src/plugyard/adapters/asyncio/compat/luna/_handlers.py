"""``crutches_on_wheels.web.handlers.BaseHandler``: LUNA's class-based HTTP handlers, mounted
on the host's Starlette app."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._log import Logger

if TYPE_CHECKING:
    from starlette.datastructures import Headers, QueryParams
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from ._application import LunaApplication

__all__ = ["BaseHandler", "LunaRequest", "handler_route", "sanic_path"]

VERBS = ("get", "post", "put", "patch", "delete", "options", "head")
_PARAM = re.compile(r"<([A-Za-z_]\w*)(?::([A-Za-z_]\w*))?>")
_CONVERTERS = {"int": "int", "float": "float", "uuid": "uuid", "path": "path"}


def sanic_path(path: str) -> str:
    """A Sanic route path (``/things/<thingId:int>``) in Starlette's form (``{thingId:int}``)."""

    def convert(match: re.Match[str]) -> str:
        converter = _CONVERTERS.get(match.group(2) or "")
        return f"{{{match.group(1)}:{converter}}}" if converter else f"{{{match.group(1)}}}"

    return _PARAM.sub(convert, path)


class LunaRequest:
    """The request a handler sees as ``self.request``: Sanic's names over Starlette's request.

    ``app`` is the plugin's :class:`LunaApplication`; ``body`` is read before the handler
    runs, so ``json`` is a plain property as in Sanic. Other names reach Starlette's request.
    """

    __slots__ = ("_request", "app", "body", "ctx")

    def __init__(self, request: Request, app: LunaApplication, body: bytes) -> None:
        from types import SimpleNamespace

        self._request = request
        self.app = app
        self.body = body
        self.ctx = SimpleNamespace()

    @property
    def json(self) -> Any:
        """The body parsed as JSON (``None`` when empty); a bad body answers 400."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError as exc:
            from starlette.exceptions import HTTPException

            raise HTTPException(400, f"request body is not valid JSON: {exc}") from None

    @property
    def args(self) -> QueryParams:
        """The query string's arguments (``get`` and ``getlist``)."""
        return self._request.query_params

    @property
    def headers(self) -> Headers:
        """The request headers (case-insensitive)."""
        return self._request.headers

    @property
    def method(self) -> str:
        """The HTTP method."""
        return self._request.method

    @property
    def path(self) -> str:
        """The URL path."""
        return self._request.url.path

    @property
    def requestId(self) -> str | None:
        """The request's id (the request-id header's value, or a generated one)."""
        state: Mapping[str, Any] = self._request.scope.get("state", {})
        value = state.get("request_id")
        return None if value is None else str(value)

    @property
    def starlette(self) -> Request:
        """Starlette's request underneath."""
        return self._request

    def __getattr__(self, name: str) -> Any:
        return getattr(object.__getattribute__(self, "_request"), name)


def _payload(body: Any, output_json: Any) -> tuple[bytes, str | None]:
    if output_json is not None:
        return json.dumps(output_json, ensure_ascii=False).encode(), "application/json"
    if body is None:
        return b"", None
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body), None
    if isinstance(body, str):
        return body.encode(), None
    return json.dumps(body, ensure_ascii=False).encode(), "application/json"


def _response(
    status: int,
    body: Any,
    output_json: Any,
    content_type: str | None,
    headers: Mapping[str, str] | None,
    extra_headers: Mapping[str, str] | None,
) -> Response:
    from starlette.responses import Response

    data, guessed = _payload(body, output_json)
    merged = {**(headers or {}), **(extra_headers or {})}
    return Response(data, status_code=status, headers=merged, media_type=content_type or guessed)


class BaseHandler:
    """A LUNA handler class: one instance per request, one method per HTTP verb
    (``async def get(self)``, path parameters as keyword arguments), answering with
    :meth:`success` or :meth:`error`."""

    def __init__(self, request: LunaRequest) -> None:
        self.request = request

    @property
    def app(self) -> LunaApplication:
        """The plugin's application."""
        return self.request.app

    @property
    def config(self) -> Any:
        """The plugin's options (``app.ctx.serviceConfig``)."""
        return self.request.app.ctx.serviceConfig

    @property
    def requestId(self) -> str | None:
        """This request's id."""
        return self.request.requestId

    @property
    def logger(self) -> Logger:
        """The plugin's logger, its records carrying this request's id."""
        return self.request.app.ctx.logger.withRequestId(self.requestId)

    def success(
        self,
        statusCode: int = 200,
        body: Any = None,
        contentType: str | None = None,
        headers: Mapping[str, str] | None = None,
        outputJson: Any = None,
        extraHeaders: Mapping[str, str] | None = None,
    ) -> Response:
        """A response: ``body`` (text, bytes, or data sent as JSON) or ``outputJson``."""
        return _response(statusCode, body, outputJson, contentType, headers, extraHeaders)

    def error(
        self,
        statusCode: int = 500,
        error: Any = None,
        *,
        errorCode: int = 0,
        desc: str | None = None,
        detail: str | None = None,
        headers: Mapping[str, str] | None = None,
        extraHeaders: Mapping[str, str] | None = None,
    ) -> Response:
        """An error response in LUNA's shape: ``{"error_code", "desc", "detail"}``.

        ``error`` may be LUNA-style error info (with ``errorCode``, ``description``,
        ``detail``) or a message.
        """
        if error is not None and not isinstance(error, str):
            errorCode = int(getattr(error, "errorCode", errorCode))
            desc = desc or getattr(error, "description", None)
            detail = detail or getattr(error, "detail", None)
        elif isinstance(error, str):
            desc = desc or error
        desc = desc or "error"
        output = {
            "error_code": errorCode,
            "desc": desc,
            "detail": detail or desc,
            "request_id": self.requestId,
        }
        return _response(statusCode, None, output, None, headers, extraHeaders)


def _as_response(result: Any, where: str) -> Response:
    from starlette.responses import Response

    if isinstance(result, Response):
        return result
    status = getattr(result, "status", None)
    body = getattr(result, "body", None)
    if isinstance(status, int) and (body is None or isinstance(body, bytes)):
        # A Sanic-style response object built by hand (``sanic.response.text(...)``).
        headers = {str(k): str(v) for k, v in dict(getattr(result, "headers", {}) or {}).items()}
        headers.pop("content-length", None)
        headers.pop("Content-Length", None)
        content_type = getattr(result, "content_type", None)
        return Response(body or b"", status_code=status, headers=headers, media_type=content_type)
    raise TypeError(f"{where} returned {type(result).__name__}, expected a response")


def handler_route(path: str, cls: type[BaseHandler], app: LunaApplication) -> Route:
    """A Starlette route for LUNA handler class ``cls`` at Sanic-style ``path``."""
    from starlette.exceptions import HTTPException
    from starlette.routing import Route

    verbs = [verb for verb in VERBS if callable(getattr(cls, verb, None))]
    if not verbs:
        raise TypeError(f"route {path!r}: {cls.__qualname__} has no get/post/put/... method")
    allowed = ", ".join(v.upper() for v in verbs)

    async def endpoint(request: Request) -> Response:
        verb = request.method.lower()
        if verb == "head" and "head" not in verbs:
            verb = "get"
        if verb not in verbs:
            raise HTTPException(405, headers={"Allow": allowed})
        body = await request.body()
        handler = cls(LunaRequest(request, app, body))
        result = await getattr(handler, verb)(**request.path_params)
        return _as_response(result, f"{cls.__qualname__}.{verb}")

    return Route(sanic_path(path), endpoint, methods=[v.upper() for v in verbs])
