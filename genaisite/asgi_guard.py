"""ASGI, in front of Django: an API request whose query string or size is wrong is refused before Django reads it.

Django's ASGI handler reads a whole body, spooling it to a temporary file, before any middleware runs; without this
a client could have every process write gigabytes to disk for a request the middleware then refuses. A declared
Content-Length over the limit is refused at once, a chunked body is counted as it arrives and cut off at the limit.
Django also answers a raw query-string byte that is not UTF-8 with an HTML 400 before middleware sees it. The
middleware (genaisite/api_input.py) holds the same limits for every other way in, and checks the body itself.
"""

from core.input_checks import InvalidInput, check_query_string
from genaisite.api_errors import error_response, is_api_path
from genaisite.api_input import body_limit, too_large
from genaisite.middleware import API_SECURITY_HEADERS


def _header(scope: dict, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def _declared_length(scope: dict) -> int:
    try:
        return int(_header(scope, b"content-length") or 0)
    except ValueError:
        raise InvalidInput("bad_request", "The Content-Length header is not a number.") from None


async def _answer(send, path: str, error: InvalidInput) -> None:
    response = error_response(path, error.status, error.code, error.message, field=error.field)
    headers = {**API_SECURITY_HEADERS, **dict(response.items()), "Content-Length": str(len(response.content))}
    await send(
        {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()],
        }
    )
    await send({"type": "http.response.body", "body": response.content})


class ApiRequestGuard:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not is_api_path(scope["path"]):
            return await self.app(scope, receive, send)
        path = scope["path"]
        content_type = _header(scope, b"content-type").split(";")[0].strip().lower()
        limit = body_limit(scope["method"], path, content_type)
        try:
            check_query_string(scope.get("query_string", b""))
            if _declared_length(scope) > limit:
                raise too_large(limit)
        except InvalidInput as error:
            return await _answer(send, path, error)

        received = 0
        cut_off = False
        started = False

        async def counting_receive() -> dict:
            nonlocal received, cut_off
            if cut_off:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Django reads the body before anything else and gives up on a disconnect, without answering.
                    cut_off = True
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counting_receive, tracking_send)
        if cut_off and not started:
            await _answer(send, path, too_large(limit))
