"""FHIR R4 for the medication list (being written)."""

from fastapi import APIRouter

router = APIRouter(prefix="/fhir", tags=["FHIR R4"])
