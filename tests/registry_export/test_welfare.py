"""Welfare technology in use (pure): the welfare service's coverage of a technology for a person
(``welfare.CoverageRecorded`` / ``CoverageEnded`` on ``welfare-coverage-<id>``) counts in the
statistics' technology group while it runs, goes to KPR under its service code where KPR has
one and no decision already reports it, and the readings streams make no part at all."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from lxml import etree

from cli.manifests import registry
from services.registry_export.domain.kpr import select
from services.registry_export.domain.person import advance
from services.registry_export.domain.statistics import period_count, point_count
from services.registry_export.kpr_xml import NS, render
from services.welfare import contract as w
from tests.registry_export.support import envelopes, replay
from tests.registry_export.test_statistics import granted, person

TODAY = date(2026, 1, 5)
N = {"k": NS}


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 10, tzinfo=UTC)


def covered(technology: str, start: date, to: date | None = None,
            coverage: uuid.UUID | None = None) -> w.CoverageRecorded:
    return w.CoverageRecorded(
        coverage_id=coverage or uuid.uuid4(), technology=technology, basis="consent",
        decision_ref="samtykke 2025-17", valid_from=at(start),
        valid_to=at(to) if to else None, by="9144889", unit="974600951",
        recorded_at=at(start))


def ended(coverage: uuid.UUID, day: date) -> w.CoverageEnded:
    return w.CoverageEnded(coverage_id=coverage, reason="samtykke trukket", by="9144889",
                           ended_at=at(day))


def alarm(pid: uuid.UUID) -> list:
    """A reading on the person's readings stream (not a coverage stream)."""
    now = datetime(2025, 3, 1, tzinfo=UTC)
    return envelopes(pid, [w.DeviceEventReceived(reading=w.DeviceEvent(
        reading_id=uuid.uuid4(), device="alarm-1", device_event_id="e1",
        technology="trygghetsalarm", effective_at=now, received_at=now,
        system="http://ehelse.no/fhir/CodeSystem/vkp-alert-code-v090", code="4.1",
        severity=3))], prefix="welfare")


def with_coverage(born: date, sex: str, kommune: str, journal: list, welfare: list) -> list:
    envs = person(born, sex, kommune, *journal)
    return envs + envelopes(envs[0].patient_id, welfare, prefix="welfare-coverage")


def test_technology_in_use_counts_in_the_technology_group_while_it_runs():
    stopped = uuid.uuid4()
    people = replay([
        *with_coverage(date(1940, 1, 1), "female", "0301", [],
                       [covered("Trygghetsalarm", date(2025, 2, 1))]),
        *with_coverage(date(1941, 1, 1), "female", "0301", [],
                       [covered("digital hjemmeoppfølging", date(2025, 3, 1))]),
        # ended in the summer: a user over the year, not on 31 December
        *with_coverage(date(1942, 1, 1), "female", "0301", [],
                       [covered("medisindispenser", date(2025, 1, 10), coverage=stopped),
                        ended(stopped, date(2025, 6, 30))]),
        # a technology the registry does not know is not counted
        *with_coverage(date(1943, 1, 1), "female", "0301", [],
                       [covered("smart lyspære", date(2025, 1, 10))]),
    ])
    cell = ("0301", "80-89", "female", "technology")
    assert period_count(people.values(), 2025, TODAY).cells[cell] == 3
    assert point_count(people.values(), 2025, TODAY).cells[cell] == 2


def test_an_alarm_decided_and_covered_is_one_user_and_one_kpr_line():
    envs = with_coverage(date(1940, 1, 1), "male", "0301", granted("6", date(2025, 2, 1)),
                         [covered("trygghetsalarm", date(2025, 2, 1))])
    only_covered = with_coverage(date(1939, 1, 1), "male", "0301", [],
                                 [covered("trygghetsalarm", date(2025, 4, 1)),
                                  covered("digital hjemmeoppfølging", date(2025, 4, 1))])
    envs += only_covered
    people = replay(envs)
    assert point_count(people.values(), 2025, TODAY).cells[
        ("0301", "80-89", "male", "technology")] == 2
    ids = {str(e.patient_id): f"0101{i}012345"[:11] for i, e in enumerate(envs)
           if e.type == "journal.PatientRegistered"}
    doc = etree.fromstring(render(select(people.values(), ids, 2025)))
    codes = sorted(sorted(t.findtext("k:Tjenestekode", namespaces=N)
                          for t in p.findall("k:Tjeneste", N))
                   for p in doc.findall("k:Person", N))
    # the decided alarm is the decision's line only; the covered-only alarm is reported under
    # code 6; digital home follow-up has no KPR code and is not sent
    assert codes == [["6"], ["6"]]
    decision_ids = {t.findtext("k:VedtakId", namespaces=N) for t in doc.iter(f"{{{NS}}}Tjeneste")}
    coverage = only_covered[1].data["coverage_id"]
    assert coverage in decision_ids


def test_the_readings_streams_make_no_part():
    reg = registry()
    env, payload = reg.load(alarm(uuid.uuid4())[0])
    assert advance(None, env, payload) is None
    env, payload = reg.load(envelopes(env.patient_id, [covered("gps", date(2025, 1, 1))],
                                      prefix="welfare-coverage")[0])
    part = advance(None, env, payload)
    assert part is not None and [s.code for s in part.services.values()] == ["26"]
    assert replay(alarm(uuid.uuid4())) == {}
