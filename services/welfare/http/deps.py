"""What the welfare routes share: the stores and readers from the app, and who may do what.

- Devices and gateways (client-credentials tokens, ``ehr:device``) report readings, only for
  a person the device is assigned to (``consent.DeviceAssigned``): anything else is the generic
  403 that never says whether the person exists.
- Health personnel with an HPR number record and end the legal bases, and read; the service
  owner (a unit leader) releases or discards quarantined data. Every route is guarded and logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request

from libs.access.model import Device, Practitioner, Role
from libs.kernel.errors import Forbidden
from libs.web.write import Write, write
from services.welfare.projections.readings import ReadingsReader
from services.welfare.store import CoverageStore, Intake

CATEGORY = "welfare"


@dataclass(frozen=True)
class Config:
    max_batch: int
    owner_unit: str
    review_within: timedelta


def coverage_store(request: Request) -> CoverageStore:
    return request.app.state.coverage


async def _intake(request: Request) -> Intake:
    return request.app.state.intake


async def _reader(request: Request) -> ReadingsReader:
    return request.app.state.readings


async def _config(request: Request) -> Config:
    return request.app.state.welfare


async def _coverage(request: Request) -> CoverageStore:
    return coverage_store(request)


IntakeDep = Annotated[Intake, Depends(_intake)]
Coverage = Annotated[CoverageStore, Depends(_coverage)]
Reader = Annotated[ReadingsReader, Depends(_reader)]
ConfigDep = Annotated[Config, Depends(_config)]


def device(who) -> Device:
    if not isinstance(who, Device):
        raise Forbidden("Only welfare-technology devices and gateways report readings.")
    return who


def clinician(who) -> Practitioner:
    if not isinstance(who, Practitioner) or not who.hpr:
        raise Forbidden("Only authorised health personnel (with an HPR number) can do this.")
    return who


def service_owner(who) -> Practitioner:
    p = clinician(who)
    if Role.unit_leader not in p.roles:
        raise Forbidden("Only the service owner (a unit leader) decides on quarantined data.")
    return p


CoverageWrite = Annotated[Write, Depends(write(CATEGORY, store=coverage_store, actor=clinician,
                                               what="the legal bases"))]
OwnerWrite = Annotated[Write, Depends(write(CATEGORY, store=coverage_store, actor=service_owner,
                                            what="the quarantine"))]
