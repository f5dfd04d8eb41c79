"""Uploads spooled to a temporary file while the request is parsed, before any view runs.

Django's own handler lets a full or missing temporary directory escape as an exception from the request parser (a
500, or worse, from the CSRF check of the upload page). This one stops reading the file instead and leaves the cause
on the request, so the upload views answer it like any other storage failure (documents.services).
"""

from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler

STORAGE_ERROR_ATTRIBUTE = "upload_storage_error"


class SpoolingUploadHandler(TemporaryFileUploadHandler):
    def new_file(self, *args, **kwargs) -> None:
        try:
            super().new_file(*args, **kwargs)
        except OSError as exc:
            self._give_up(exc)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        try:
            super().receive_data_chunk(raw_data, start)
        except OSError as exc:
            self.upload_interrupted()  # no partial temporary file left behind
            self._give_up(exc)

    def _give_up(self, exc: OSError) -> None:
        setattr(self.request, STORAGE_ERROR_ATTRIBUTE, exc)
        raise StopUpload(connection_reset=False)  # read (and drop) the rest of the body, then go on without the file


def storage_error(request) -> OSError | None:
    """The failure that stopped spooling this request's upload, if one did."""
    return getattr(getattr(request, "_request", request), STORAGE_ERROR_ATTRIBUTE, None)
