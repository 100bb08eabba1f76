"""The KPR extract: §5.1's validity rules, the XML checked by a real schema validator (lxml /
libxml2) against the project's XSD, and the send rules (year ended, re-send until 15 January,
each send an event with its checksum)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from lxml import etree

from libs.config import REPO_ROOT
from libs.kernel.errors import Invalid
from services.journal import contract as j
from services.registry_export.domain.kpr import select
from services.registry_export.kpr_report import run_kpr
from services.registry_export.kpr_xml import NS, XSD, render, validate
from services.registry_export.manifest import MANIFEST
from services.registry_export.sources import Sources
from tests.registry_export.support import municipality, replay
from tests.registry_export.test_statistics import granted, person

SCHEMA = REPO_ROOT / XSD
N = {"k": NS}


def ids_of(envs) -> dict[str, str]:
    return {str(e.patient_id): e.data["national_id"] for e in envs
            if e.type == "journal.PatientRegistered"}


def test_a_synthetic_municipality_gives_a_valid_extract():
    envs = municipality(200, 2025, seed=11)
    extract = select(replay(envs).values(), ids_of(envs), 2025, "0301")
    xml = render(extract)
    assert validate(xml, SCHEMA) == []
    assert render(select(replay(envs).values(), ids_of(envs), 2025, "0301")) == xml
    doc = etree.fromstring(xml)
    people = doc.findall("k:Person", N)
    assert len(people) == len(extract.persons) > 100
    assert doc.get("antallTjenester") == str(extract.services)
    assert {p.findtext("k:Kommunenummer", namespaces=N) for p in people} == {"0301"}
    first = people[0]
    assert len(first.findtext("k:Fodselsnummer", namespaces=N)) == 11
    assert len(first.findall("k:Funksjonsvurdering/k:Variabel", N)) == 17
    assert doc.findall(".//k:Tjeneste[k:Vedtak='avslag']", N), "refusals are reported too"
    assert doc.findall(".//k:Diagnose[@kodeverk='ICPC-2']", N)


def test_the_validity_rules_exclude_with_reasons():
    d = uuid.uuid4()
    envs = [
        *person(date(1940, 1, 1), "female", "0301",
                j.ServiceApplied(decision_id=d, service_code="15", applied_on=date(2025, 1, 1)),
                j.ServiceGranted(decision_id=d, service_code="15", from_date=date(2025, 5, 1),
                                 to_date=date(2025, 4, 1), scope=j.Scope(unit="continuous"),
                                 provider="974600951", assessment_id=uuid.uuid4(),
                                 decided_on=date(2025, 1, 1)),
                *granted("99", date(2025, 2, 1)), *granted("15", date(2025, 2, 1))),
        *person(date(2020, 1, 1), "male", "0301", *granted("15", date(2019, 6, 1))),
        *person(date(1930, 1, 1), "male", "0301", *granted("21", date(2023, 1, 1)),
                j.PatientDeceased(deceased_on=date(2024, 12, 1), recorded_at=datetime.now(UTC))),
    ]
    extract = select(replay(envs).values(), ids_of(envs), 2025)
    reasons = sorted(x.reason for x in extract.excluded)
    assert reasons == ["died 2024-12-01, before the reporting year",
                       "fra_dato 2019-06-01 is outside 2020 (birth year) to 31.12.2025",
                       "fra_dato 2025-05-01 is after til_dato 2025-04-01",
                       "tjenestekode '99' is not a valid KPR service code"]
    assert [[s.code for s in p.services] for p in extract.persons] == [["15"]]


def test_the_validator_rejects_a_broken_extract():
    envs = municipality(5, 2025, seed=2)
    xml = render(select(replay(envs).values(), ids_of(envs), 2025))
    broken = xml.replace(b"<Kjonn>", b"<Kjonn>7", 1)
    assert validate(broken, SCHEMA) and validate(xml, SCHEMA) == []


class Fixed(Sources):
    """Real event store, people from a fold (the worker's path is the story test's)."""

    def __init__(self, engine, envs, out_dir):
        super().__init__(engine, MANIFEST.registry(), "unused:9092", "unused", "unused",
                         out_dir)
        self._envs = envs

    async def people(self):
        return replay(self._envs)

    async def national_ids(self):
        return ids_of(self._envs)


async def test_sends_are_events_and_can_be_repeated_until_15_january(engine, tmp_path):
    src = Fixed(engine, municipality(30, 2025, seed=5), tmp_path)
    kw = {"year": 2025, "municipality": "0301", "now": datetime.now(UTC)}
    with pytest.raises(Invalid, match="from 1 January 2026"):
        await run_kpr(src, SCHEMA, today=date(2025, 12, 31), **kw)
    first = await run_kpr(src, SCHEMA, today=date(2026, 1, 3), **kw)
    again = await run_kpr(src, SCHEMA, today=date(2026, 1, 15), **kw)
    assert (first.resend, again.resend) == (False, True)
    assert first.checksum == again.checksum and first.path.read_bytes() == again.path.read_bytes()
    with pytest.raises(Invalid, match="only until 2026-01-15"):
        await run_kpr(src, SCHEMA, today=date(2026, 1, 16), **kw)
    sent = [p for _, p in await src.store.load("registry-kpr-2025-0301")]
    assert [(s.resend, s.checksum) for s in sent] == [(False, first.checksum),
                                                      (True, first.checksum)]
    assert sent[0].persons == len(first.extract.persons) > 0
