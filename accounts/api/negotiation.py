from rest_framework.request import Request
from rest_framework.views import APIView


class AnswersInItsOwnType(APIView):
    """For views whose success is a file in its own type (a download, a Markdown export), not rendered by DRF.

    A client may well ask for that type (``Accept: text/plain``); DRF would refuse with 406, since only JSON is
    renderable. Here anything is acceptable: the file answers in its type, refusals in JSON.
    """

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple:
        return super().perform_content_negotiation(request, force=True)
