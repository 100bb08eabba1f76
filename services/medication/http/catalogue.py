"""The drug catalogue for health personnel: which extract is loaded, product search, one
product."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request

from libs.access.model import Device, Practitioner
from libs.kernel.errors import Forbidden, NotFound
from libs.web.guard import CurrentSubject
from libs.web.routing import PathRouter
from services.medication.http.deps import catalogue_of

router = PathRouter(tags=["catalogue"])


@router.get("/catalogue")
async def catalogue_info(request: Request, who: CurrentSubject):
    """Which extract is loaded (its date and load), and how many products are active."""
    _professional(who)
    live = request.app.state.catalogue
    cat = live.catalogue
    if cat is None:
        return {"load_id": None, "extract_date": None, "products": 0, "sample": False}
    return {"load_id": live.load_id, "extract_date": cat.extract_date.isoformat(),
            "source": cat.header.source, "sample": cat.header.sample,
            "notice": cat.header.notice, "products": len(cat.active_products())}


@router.get("/catalogue/products")
async def products(request: Request, who: CurrentSubject,
                   q: Annotated[str | None, Query(max_length=100, description=(
                       "part of the name or substance"))] = None,
                   atc: Annotated[str | None, Query(max_length=7)] = None,
                   limit: Annotated[int, Query(ge=1, le=200)] = 50):
    """Search active products by name, substance or ATC code (prefix)."""
    _professional(who)
    view = catalogue_of(request)
    cat = request.app.state.catalogue.catalogue
    term = (q or "").strip().casefold()
    found = [p for p in cat.active_products()
             if (not atc or (p.atc or "").upper().startswith(atc.strip().upper()))
             and (not term or term in view.product(p.id).name.casefold()
                  or any(term in s.casefold() for s in view.product(p.id).substances))]
    return {"products": [_product(view.product(p.id)) for p in found[:limit]],
            "total": len(found)}


@router.get("/catalogue/products/{product_id}")
async def product(product_id: str, request: Request, who: CurrentSubject):
    _professional(who)
    found = catalogue_of(request).product(product_id)
    if found is None:
        raise NotFound("No such product in the drug catalogue.")
    return _product(found)


def _professional(who) -> None:
    if not isinstance(who, Practitioner | Device):
        raise Forbidden("The drug catalogue is for health personnel.")


def _product(p) -> dict[str, Any]:
    return {"product_id": p.product_id, "name": p.name, "atc": p.atc,
            "substances": list(p.substances), "strength": p.strength,
            "strength_unit": p.strength_unit, "form": p.form,
            "max_daily_dose": p.max_daily_dose, "max_daily_dose_unit": p.max_daily_dose_unit,
            "expired": p.expired}
