"""Content negotiation for the FHIR APIs, the same in every service: they speak FHIR JSON
(``application/fhir+json``). ``_format`` (``json``, ``application/json``,
``application/fhir+json``) and ``Accept`` that allow JSON are served; a request for XML or
Turtle is a 406, and a body in another format a 415, each with an OperationOutcome saying so.
A router takes ``fhir_format`` as a dependency."""

from __future__ import annotations

from fastapi import Request

from libs.web.limits import BODY_METHODS, BodyRefused

JSON_FORMATS = ("json", "application/json", "application/fhir+json", "*/*", "application/*")
_SPOKEN = "This server speaks FHIR JSON (application/fhir+json) only"


def _media(value: str) -> str:
    return value.split(";")[0].strip().lower()


async def fhir_format(request: Request) -> None:
    """406 when ``_format`` or ``Accept`` rules out JSON; 415 for a body that is not JSON."""
    wanted = request.query_params.get("_format")
    if wanted is not None and _media(wanted) not in JSON_FORMATS:
        raise BodyRefused(406, "not-supported", f"{_SPOKEN}; _format={wanted[:40]} is not "
                                                "served. Ask for _format=json.")
    accept = request.headers.get("accept")
    if accept and not any(_media(a) in JSON_FORMATS for a in accept.split(",")):
        raise BodyRefused(406, "not-supported", f"{_SPOKEN}; the Accept header allows none "
                                                "of it.")
    ctype = request.headers.get("content-type")
    if request.method in BODY_METHODS and ctype and "xml" in _media(ctype):
        raise BodyRefused(415, "not-supported", f"{_SPOKEN}; send the body as "
                                                "application/fhir+json.")
