"""The site's URLs plus a view that crashes, under each API, for the 500 tests."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from genaisite import urls as site


def crash(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug in a view")


urlpatterns = [path("api/v1/crash/", crash), path("v1/crash", crash), *site.urlpatterns]
handler400 = site.handler400
handler404 = site.handler404
handler500 = site.handler500
