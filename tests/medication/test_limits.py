"""Issue 12, finding 5 on the medication service (real PostgreSQL and Kafka): ``as_of`` and
``day`` out of range are 422s on every read (they were 500s from an overflow), and a dose given,
a dispensing or a prescription's dates out of range or in the future are 422s that change
nothing; finding 4: a duplicate key in an order is a 422, not "the last one wins"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.medication.conftest import PARACET, Ward, dose

LIST = "/patients/{}/medication-list"
EDGE_INSTANTS = ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00")


def _outcome(r, status: int) -> str:
    assert r.status_code == status, r.text
    assert r.json()["resourceType"] == "OperationOutcome", r.text
    return " ".join(i["diagnostics"] for i in r.json()["issue"])


async def test_as_of_and_day_out_of_range_are_422_on_every_read(ward: Ward):
    patient_id, _ = await ward.patient()
    entry = (await ward.prescribe(patient_id, PARACET)).json()["entry_id"]
    base = LIST.format(patient_id)
    gp = ward.c.gp()
    for path in (base, base + "/chart", base + "/history", base + f"/entries/{entry}",
                 base + "/reconciliations", "/fhir/MedicationStatement"):
        for as_of in EDGE_INSTANTS:
            params = {"as_of": as_of} | ({"patient": patient_id} if "fhir" in path else {})
            r = await ward.med.get(path, headers=gp, params=params)
            assert "as_of" in _outcome(r, 422), (path, as_of)
    for day in ("9999-12-31", "0001-01-01"):
        r = await ward.med.get(base + "/chart", headers=gp, params={"day": day})
        assert "day" in _outcome(r, 422), day
    r = await ward.med.get(base + "/chart", headers=gp, params={"day": "2199-12-31"})
    assert r.status_code == 200, r.text


async def test_doses_given_and_dates_out_of_range_or_in_the_future_are_422(ward: Ward):
    patient_id, _ = await ward.patient()
    entry = (await ward.prescribe(patient_id, PARACET,
                                  dose=dose(as_needed=True, max_per_day=4))).json()["entry_id"]
    version = await ward.version(patient_id)
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    for at, says in ((EDGE_INSTANTS[0], "administered_at"), (EDGE_INSTANTS[1], "administered_at"),
                     (later, "future")):
        r = await ward.give(patient_id, entry, {"outcome": "given", "administered_at": at},
                            expect=422)
        assert says in _outcome(r, 422)
    r = await ward.med.post(LIST.format(patient_id) + f"/entries/{entry}/dispensings",
                            headers=ward.c.nurse(), json={"dispensed_at": EDGE_INSTANTS[1]})
    assert "dispensed_at" in _outcome(r, 422)
    r = await ward.med.post(LIST.format(patient_id) + "/prescriptions",
                            headers=ward.c.gp() | {"If-Match": version},
                            json={"product_id": PARACET, "dose": dose(),
                                  "end_on": "9999-12-31"})
    assert "end_on" in _outcome(r, 422)
    assert await ward.version(patient_id) == version, "nothing was written"


async def test_a_duplicate_key_in_an_order_is_422(ward: Ward):
    patient_id, _ = await ward.patient()
    version = await ward.version(patient_id)
    r = await ward.med.post(LIST.format(patient_id) + "/prescriptions",
                            headers=ward.c.gp() | {"If-Match": version,
                                                   "Content-Type": "application/json"},
                            content=b'{"product_id": "x", "product_id": "' + PARACET.encode()
                            + b'", "dose": {"amount": 1, "unit": "tablett", "route": "oral", '
                            b'"times_per_day": 2}}')
    assert "the key 'product_id' appears more than once" in _outcome(r, 422)
    assert await ward.version(patient_id) == version
