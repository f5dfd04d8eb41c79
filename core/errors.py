class ServiceError(Exception):
    """A refusal a service explains to its caller: every entry point shows ``message`` with its ``status``.

    The REST API renders it as ``{"error": {"code", "message"}}``, the OpenAI-compatible API in OpenAI's shape, the
    websocket as an error frame and HTML views as a form or page error.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int = 400,
        retry_after: int | None = None,
        param: str | None = None,
        existing_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.param = param  # the request field at fault (e.g. "messages[2].content"), when there is one
        self.existing_id = existing_id  # a duplicate: the object that already exists, for a client to use instead
