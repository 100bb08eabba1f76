"""The analysts' API: a catalogue shaped after DCAT-AP-NO, the published tables (JSON-stat 2.0
or CSV) and the released research files. Every download is logged as a
``registry.DownloadServed`` event before it is served."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.responses import FileResponse, Response

from libs.kernel.errors import Invalid, NotFound
from libs.kernel.time import local_day
from libs.web.routing import PathRouter
from services.registry_export.domain.codes import GROUPS
from services.registry_export.http.auth import RESEARCH, STATISTICS, Analyst, analyst
from services.registry_export.published import FORMATS, KINDS, render_table
from services.registry_export.store import record_download

router = PathRouter(tags=["analysts"])
PROJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
Statistics = Annotated[Analyst, Depends(analyst(STATISTICS))]
Research = Annotated[Analyst, Depends(analyst(RESEARCH))]


def _now(request: Request) -> datetime:
    clock = request.app.state.clock
    return clock() if clock else datetime.now(UTC)


def _releases(out_dir: Path) -> list[dict]:
    found = []
    for package in sorted((out_dir / "releases").glob("*/*/datapackage.json")):
        meta = json.loads(package.read_text())
        found.append({"project": package.parent.parent.name, "as_of": package.parent.name,
                      "package": meta})
    return found


def _years(people) -> list[int]:
    years = {d.year for p in people for s in p.services.values()
             for d in (s.from_date, s.decided_on) if d is not None}
    return sorted(years)


@router.get("/catalogue")
async def catalogue(request: Request, who: Statistics) -> dict[str, Any]:
    """The statistics and data sets (DCAT-AP-NO shaped JSON-LD)."""
    people = (await request.app.state.persons.catch_up()).values()
    base = str(request.base_url).rstrip("/")
    today = local_day(_now(request))
    datasets: list[dict] = []
    for year in _years(people):
        for kind in KINDS:
            if kind == "point" and date(year, 12, 31) >= today:
                continue
            datasets.append(_dataset(
                f"{base}/statistics/{kind}/{year}", f"care-users-{kind}-{year}",
                {"nb": f"Brukere av omsorgstjenester {year} "
                       f"({'per 31.12' if kind == 'point' else 'i løpet av året'})",
                 "en": f"Care service users {year} "
                       f"({'on 31 December' if kind == 'point' else 'during the year'})"},
                f"{year}-01-01", f"{year}-12-31",
                [(f"{base}/statistics/{kind}/{year}?format={f}", m) for f, m in FORMATS.items()],
                access="PUBLIC"))
    for r in _releases(request.app.state.out_dir):
        files = r["package"]["ehr:release"]["files"]
        datasets.append(_dataset(
            f"{base}/releases/{r['project']}/{r['as_of']}", f"release-{r['project']}-{r['as_of']}",
            {"nb": f"Forskningsuttrekk {r['project']}", "en": f"Research release {r['project']}"},
            None, r["as_of"],
            [(f"{base}/releases/{r['project']}/{r['as_of']}/{f}",
              "application/vnd.apache.parquet" if f.endswith(".parquet") else "application/json")
             for f in ["datapackage.json", *sorted(files)]], access="RESTRICTED"))
    return {
        "@context": {"dcat": "http://www.w3.org/ns/dcat#", "dct": "http://purl.org/dc/terms/",
                     "foaf": "http://xmlns.com/foaf/0.1/"},
        "@id": f"{base}/catalogue", "@type": "dcat:Catalog",
        "dct:title": {"nb": "Helse- og omsorgsstatistikk fra kommunen",
                      "en": "The municipality's health and care statistics"},
        "dct:publisher": {"@type": "foaf:Agent", "foaf:name": "EHR registry export"},
        "dcat:themeTaxonomy": [{"@id": f"{base}/groups/{g}", "dct:title": {"nb": no, "en": en}}
                               for g, (no, en, _) in GROUPS.items()],
        "dcat:dataset": datasets,
    }


def _dataset(ident: str, key: str, title: dict, start: str | None, end: str,
             distributions: list[tuple[str, str]], *, access: str) -> dict:
    return {
        "@id": ident, "@type": "dcat:Dataset", "dct:identifier": key, "dct:title": title,
        "dct:accessRights": {"@id": "http://publications.europa.eu/resource/authority/"
                                    f"access-right/{access}"},
        "dct:temporal": {"dcat:startDate": start, "dcat:endDate": end},
        "dcat:theme": [{"@id": "http://publications.europa.eu/resource/authority/data-theme/"
                               "HEAL"}],
        "dcat:distribution": [{"@type": "dcat:Distribution", "dcat:accessURL": {"@id": url},
                               "dcat:mediaType": media} for url, media in distributions],
    }


@router.get("/statistics/{kind}/{year}")
async def table(request: Request, kind: str, year: int, who: Statistics,
                fmt: Annotated[str, Query(alias="format", max_length=20)] = "jsonstat"):
    """A published table: users once per service group, suppressed cells '.'."""
    people = (await request.app.state.persons.catch_up()).values()
    now = _now(request)
    body, media = render_table(people, year=year, kind=kind, fmt=fmt,
                               min_cell=request.app.state.min_cell, now=now,
                               rounding=request.app.state.rounding)
    await record_download(request.app.state.store, client=who.client_id, organisation=who.org,
                          resource=f"statistics/{kind}/{year}?format={fmt}", scope=STATISTICS,
                          now=now)
    return Response(body, media_type=media)


@router.get("/releases/{project}/{as_of}/{path:path}")
async def release_file(request: Request, project: str, as_of: str, path: str, who: Research):
    """A file of a research release (its datapackage.json or one of its Parquet files)."""
    try:
        day = date.fromisoformat(as_of)
    except ValueError:
        raise Invalid("the release date is YYYY-MM-DD") from None
    if not PROJECT.fullmatch(project) or len(path) > 300:
        raise NotFound("no such release file")
    folder = request.app.state.out_dir / "releases" / project / day.isoformat()
    package = folder / "datapackage.json"
    if not package.is_file():
        raise NotFound("no such release file")
    listed = {"datapackage.json", *json.loads(package.read_text())["ehr:release"]["files"]}
    if path not in listed:
        raise NotFound("no such release file")
    await record_download(request.app.state.store, client=who.client_id, organisation=who.org,
                          resource=f"releases/{project}/{day.isoformat()}/{path}",
                          scope=RESEARCH, now=_now(request))
    return FileResponse(folder / path, media_type="application/json" if path.endswith(".json")
                        else "application/vnd.apache.parquet")
