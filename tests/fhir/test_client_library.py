"""A standard FHIR client library (fhirpy's AsyncFHIRClient), pointed at the one FHIR base of
the gateway (Debian's nginx in front of the consent service, the journal and the medication
service, on the real stack), does create / read / update / search / history on Patient and
Observation with nothing but its public API: the case worker registers the patient, and the
home-care nurse, once home nursing is granted (her care relation), records, reads, corrects
and searches. If-Match goes as an ordinary request header (``extra_headers``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

from fhirpy import AsyncFHIRClient
from fhirpy.base.exceptions import (
    ForbiddenError, MultipleResourcesFound, OperationOutcome,
)
import pytest

from libs.kernel.identifiers import IdentifierSystem
from services.consent.fhir.mapping import CS_ROLE
from tests.gateway.test_one_base import gateway
from tests.journal.test_fhir_rest import patient_resource
from tests.medication.conftest import Ward

pytestmark = pytest.mark.timeout(240)
LOINC = "http://loinc.org"


def _client(base: str, auth: dict, if_match: str | None = None) -> AsyncFHIRClient:
    return AsyncFHIRClient(base, authorization=auth["Authorization"],
                           extra_headers={"If-Match": f'W/"{if_match}"'} if if_match else None)


def pulse(patient_id: str, beats: float) -> dict:
    return {"status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                "observation-category", "code": "vital-signs"}]}],
            "code": {"coding": [{"system": LOINC, "code": "8867-4"}]},
            "subject": {"reference": f"Patient/{patient_id}"},
            "effectiveDateTime": datetime.now(UTC).isoformat(),
            "valueQuantity": {"value": beats, "unit": "/min",
                              "system": "http://unitsofmeasure.org", "code": "/min"}}


async def test_a_fhir_client_library_works_the_whole_record_through_the_one_base(
        ward: Ward, tmp_path):
    c = ward.c
    async with gateway(ward, tmp_path) as http:
        base = str(http.base_url).rstrip("/")
        cw, nurse = _client(base, c.case_worker()), _client(base, c.nurse())

        # create: the server assigns the id; the case worker registers the patient
        number = c.synthetic(date(1950, 6, 1))
        patient = cw.resource("Patient", **patient_resource(number, "Lie"))
        await patient.create()
        assert patient.id and patient["meta"]["versionId"] == "1"
        await c.home_care_granted(patient.id)          # the nurse's care relation
        await c.until_allowed(c.nurse(), patient.id)

        # read and search (by national id: the look-up of the person in front of her)
        read = await nurse.resources("Patient").search(_id=patient.id).get()
        assert read["name"][0]["family"] == "Lie" and read["birthDate"] == "1950-06-01"
        found = await nurse.resources("Patient").search(
            identifier=f"{IdentifierSystem.FNR}|{number}").fetch_all()
        assert [p.id for p in found] == [patient.id]

        # update with If-Match; history holds both versions
        read["name"][0]["family"] = "Lie-Berg"
        moved = _client(base, c.nurse(), if_match="1").resource("Patient", **read.serialize())
        await moved.save()
        assert moved["meta"]["versionId"] == "2" and moved["name"][0]["family"] == "Lie-Berg"
        history = await nurse.execute(f"Patient/{patient.id}/_history", method="get")
        assert [e["resource"]["name"][0]["family"] for e in history["entry"]] == \
            ["Lie-Berg", "Lie"]

        # an Observation: create, read, search, update (a correction with its reason), history
        observation = nurse.resource("Observation", **pulse(patient.id, 72))
        await observation.create()
        assert observation["meta"]["versionId"] == "1"
        again = await nurse.get("Observation", observation.id)
        assert again["valueQuantity"]["value"] == 72 and again["status"] == "final"
        hits = await nurse.resources("Observation").search(
            patient=patient.id, code=f"{LOINC}|8867-4").fetch_all()
        assert [o.id for o in hits] == [observation.id]

        changed = dict(again) | {"valueQuantity": again["valueQuantity"] | {"value": 76},
                                 "note": [{"text": "Feil avlest, telt på nytt"}]}
        with pytest.raises(OperationOutcome, match="If-Match"):   # 428 without If-Match
            await nurse.resource("Observation", **changed).save()
        corrected = _client(base, c.nurse(), if_match="1").resource("Observation", **changed)
        await corrected.save()
        assert corrected["meta"]["versionId"] == "2" and corrected["status"] == "amended"
        assert corrected["valueQuantity"]["value"] == 76
        assert corrected["note"][0]["text"] == "Feil avlest, telt på nytt"
        with pytest.raises(MultipleResourcesFound, match="version 2"):   # 412: stale
            await _client(base, c.nurse(), if_match="1").resource(
                "Observation", **changed | {"valueQuantity": changed["valueQuantity"]
                                            | {"value": 80}}).save()
        history = await nurse.execute(f"Observation/{observation.id}/_history", method="get")
        assert [(e["resource"]["meta"]["versionId"], e["resource"]["valueQuantity"]["value"])
                for e in history["entry"]] == [("2", 76), ("1", 72)]
        hits = await nurse.resources("Observation").search(patient=patient.id).fetch_all()
        assert [(o.id, o["valueQuantity"]["value"]) for o in hits] == [(observation.id, 76)]

        # two clients correct version 2 at once: exactly one goes through
        at_2 = dict(corrected)
        racing = [_client(base, c.nurse(), if_match="2").resource("Observation", **at_2 | {
            "valueQuantity": at_2["valueQuantity"] | {"value": v},
            "note": [*at_2["note"], {"text": f"retting til {v}"}]}) for v in (77, 78)]
        outcomes = await asyncio.gather(*(r.save() for r in racing), return_exceptions=True)
        refused = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(refused) == 1 and isinstance(refused[0], MultipleResourcesFound), outcomes
        now = await nurse.get("Observation", observation.id)
        assert now["meta"]["versionId"] == "3"
        assert now["valueQuantity"]["value"] in (77, 78)

        # our code systems, found through the same base by their canonical URL
        role = await nurse.resources("CodeSystem").search(url=CS_ROLE).get()
        assert {c["code"] for c in role["concept"]} >= {"nurse", "physician"}

        # one the caller may not see is answered like an id nobody has
        stranger = _client(base, c.pro("3334445", "987654325", org="999999999"),
                           if_match="3")
        answers = []
        for rid in (observation.id, "0f0e0d0c-0b0a-4009-8807-060504030201"):
            with pytest.raises(ForbiddenError) as refused:
                await stranger.resource("Observation", **changed | {"id": rid}).save()
            answers.append(str(refused.value).replace(rid, "<id>"))
        assert answers[0] == answers[1]
        assert (await nurse.get("Observation", observation.id))["meta"]["versionId"] == "3"
