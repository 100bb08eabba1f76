"""``ehr seed demo``: demo people and access facts through the running services' APIs.

Only synthetic national ids (Tenor-style, month + 80). Patient ids are derived from the number,
so seeding twice finds the same people (a 409 means "already there").
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from time import monotonic, sleep
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from libs.access.dev_issuer import DevIssuer
from libs.kernel.identifiers import synthetic_number
from cli import manifests
from cli.services import port_of
from services.registry_export.commands import seed_municipality
from libs.config import get_settings
from libs.kernel.time import OSLO

console = Console()
seed = typer.Typer(help="Demo data for the local stack.", no_args_is_help=True)

DEMO_NS = uuid.UUID("7d5f0f4e-8f7a-4c47-9d53-6a1d3f1e2b10")
MUNICIPALITY, HOME_CARE, LEGEVAKT, SCHOOL = "123456785", "974600978", "987654325", "889640782"
PEOPLE = [  # (name, born, slot)
    ("Kari Nordmann", date(1941, 3, 14), 0),
    ("Ola Nordmann", date(1938, 11, 2), 0),
    ("Ingrid Hansen", date(1985, 5, 15), 1),
    ("Emma Hansen", date(2017, 8, 30), 0),      # Ingrid's daughter, 9
    ("Jonas Hansen", date(2012, 1, 20), 0),     # Ingrid's son, 14
]


def _ok(r: httpx.Response) -> httpx.Response:
    if r.status_code not in (200, 201, 409):
        raise typer.BadParameter(f"{r.request.method} {r.request.url.path}: {r.status_code} "
                                 f"{r.text[:200]}")
    return r


@seed.command("demo")
def seed_demo(url: Annotated[str | None, typer.Option(help="consent service URL")] = None,
              journal_url: Annotated[str | None, typer.Option(help="journal URL")] = None,
              medication_url: Annotated[str | None, typer.Option(
                  help="medication service URL")] = None,
              ) -> None:
    """Register demo people, care relations, a guardian, a consent and a block; then their
    journal: home-care decisions, today's visits on the worklist, notes, vital signs, CAVE;
    then Kari's and Ola's medication lists."""
    s = get_settings()
    base = url or f"http://127.0.0.1:{port_of(manifests.CONSENT)}"
    issuer = DevIssuer.from_settings(s)
    nurse = {"Authorization": "Bearer " + issuer.mint_practitioner(
        "9144889", MUNICIPALITY, HOME_CARE, ("nurse",), "Nina Sykepleier")}
    # the home-care leader assigns the unit its care relations (AC3: the data controller does)
    leader = {"Authorization": "Bearer " + issuer.mint_practitioner(
        "1234567", MUNICIPALITY, HOME_CARE, ("unit_leader",), "Lise Leder")}
    people = {}
    with httpx.Client(base_url=base, timeout=30) as http, Progress(console=console) as bar:
        task = bar.add_task("seeding demo data", total=len(PEOPLE) + 5)
        for name, born, slot in PEOPLE:
            pid = synthetic_number(born, slot)
            patient = uuid.uuid5(DEMO_NS, pid)
            _ok(http.post("/persons", headers=nurse,
                          json={"national_id": pid, "patient_id": str(patient)}))
            people[name] = (patient, pid)
            bar.advance(task)
        related = {}   # read your writes: the next call waits for the care relation
        for name in ("Kari Nordmann", "Ola Nordmann", "Emma Hansen", "Jonas Hansen"):
            r = _ok(http.post(f"/patients/{people[name][0]}/care-relations", headers=leader,
                              json={"purpose": "hjemmesykepleie", "basis": "service_decision",
                                    "reason": "vedtak om hjemmesykepleie"}))
            related[name] = {"X-Consistency-Token": r.headers["X-Consistency-Token"]} \
                if "X-Consistency-Token" in r.headers else {}
        bar.advance(task)
        for child in ("Emma Hansen", "Jonas Hansen"):
            _ok(http.post(f"/patients/{people[child][0]}/guardians",
                          headers=nurse | related[child], json={
                              "guardian": str(people["Ingrid Hansen"][0]),
                              "shares_address": True}))
        bar.advance(task)
        parent = {"Authorization": "Bearer " + issuer.mint_citizen(people["Ingrid Hansen"][1]),
                  "X-Acting-For": str(people["Emma Hansen"][0])}
        # her login and her guardianship are projected from two streams: wait for both
        existing = _until_ok(http, f"/patients/{people['Emma Hansen'][0]}/consents", parent)
        if not existing:
            _ok(http.post(f"/patients/{people['Emma Hansen'][0]}/consents", headers=parent,
                          json={"sector": "school", "recipient_org": SCHOOL,
                                "categories": ["school_health"],
                                "purpose": "oppfølging av astma på skolen"}))
        bar.advance(task)
        kari = {"Authorization": "Bearer " + issuer.mint_citizen(people["Kari Nordmann"][1])} \
            | related["Kari Nordmann"]
        _ok(http.post(f"/patients/{people['Kari Nordmann'][0]}/blocks", headers=kari,
                      json={"target_kind": "practitioner", "target": "7654321"}))
        bar.advance(task)
        _ok(http.get(f"/patients/{people['Kari Nordmann'][0]}/consents",
                     headers=nurse | related["Kari Nordmann"]))
        bar.advance(task)
    seed_journal(journal_url or f"http://127.0.0.1:{port_of(manifests.JOURNAL)}", issuer, people)
    seed_medication(medication_url or f"http://127.0.0.1:{port_of(manifests.MEDICATION)}",
                    issuer, people)
    table = Table("name", "patient id", "national id (synthetic)", "born")
    table.columns[1].no_wrap = True
    for name, born, _ in PEOPLE:
        table.add_row(name, str(people[name][0]), people[name][1], born.isoformat())
    console.print(table)
    console.print("Try: TOKEN=$(.venv/bin/ehr token practitioner --hpr 9144889 "
                  f"--org {MUNICIPALITY} --unit {HOME_CARE} --role nurse)", soft_wrap=True)
    console.print(f"     curl -H \"Authorization: Bearer $TOKEN\" "
                  f"{base}/patients/{people['Kari Nordmann'][0]}/consents", soft_wrap=True)
    console.print(f"     curl -H \"Authorization: Bearer $TOKEN\" "
                  f"http://127.0.0.1:{port_of(manifests.JOURNAL)}/worklist", soft_wrap=True)
    console.print(f"     curl -H \"Authorization: Bearer $TOKEN\" "
                  f"http://127.0.0.1:{port_of(manifests.MEDICATION)}/patients/"
                  f"{people['Ola Nordmann'][0]}/medication-list", soft_wrap=True)


# --- the journal -------------------------------------------------------------------------------
ALLOCATION = "889640782"   # tildelingskontoret (a unit of the municipality)
HOME_NURSING = "15"        # IPLOS service code: helsetjenester i hjemmet
JOURNAL_PEOPLE = ("Kari Nordmann", "Ola Nordmann")


def seed_journal(base: str, issuer: DevIssuer, people: dict) -> None:
    """Kari and Ola get home nursing (an IPLOS assessment and a grant), so the home-care unit
    has a care relation; then today's morning and evening visits on the unit's worklist, a
    care plan, a signed visit note, vital signs, and a CAVE for Ola. Seeding again adds
    nothing: a patient with a decision is left as it is."""
    from services.journal.domain.episodes import IPLOS_VARIABLES  # noqa: PLC0415

    case_worker = {"Authorization": "Bearer " + issuer.mint_practitioner(
        "5550001", MUNICIPALITY, ALLOCATION, ("other",), "Kari Saksbehandler")}
    nurse = {"Authorization": "Bearer " + issuer.mint_practitioner(
        "9144889", MUNICIPALITY, HOME_CARE, ("nurse",), "Nina Sykepleier")}
    now = datetime.now(OSLO)
    today = now.date()
    with httpx.Client(base_url=base, timeout=30) as http, Progress(console=console) as bar:
        task = bar.add_task("seeding the journal", total=len(JOURNAL_PEOPLE) * 3)
        for i, name in enumerate(JOURNAL_PEOPLE):
            patient, pid = people[name]
            given, family = name.split(" ", 1)
            _ok(http.post("/patients", headers=case_worker, json={
                "national_id": pid, "patient_id": str(patient), "sex": "female" if i == 0
                else "male", "name": {"given": given, "family": family},
                "address": {"lines": [f"Kirkeveien {10 + i}"], "postal_code": "0368",
                            "city": "Oslo", "municipality": "0301", "district": "030105"}}))
            overview = _until_ok(http, f"/patients/{patient}", case_worker)
            bar.advance(task)
            if overview["service_decisions"]:
                bar.advance(task, 2)
                continue
            decision = _ok(http.post(f"/patients/{patient}/services", headers=case_worker,
                                     json={"service_code": HOME_NURSING})).json()["decision_id"]
            _ok(http.post(f"/patients/{patient}/assessments", headers=case_worker,
                          json={"scores": dict.fromkeys(IPLOS_VARIABLES, 3)}))
            _ok(http.post(f"/patients/{patient}/services/{decision}/grant", headers=case_worker,
                          json={"from_date": today.isoformat(), "provider": HOME_CARE,
                                "scope": {"unit": "visits_per_week", "amount": 14}}))
            bar.advance(task)
            _until_ok(http, f"/patients/{patient}", nurse)   # the grant's care relation
            episode = _ok(http.post(f"/patients/{patient}/episodes", headers=nurse, json={
                "kind": "home_care", "unit": HOME_CARE})).json()["episode_id"]
            plan = _ok(http.post(f"/patients/{patient}/care-plans", headers=nurse, json={
                "title": "Hjemmesykepleie", "episode_id": episode})).json()["care_plan_id"]
            _ok(http.post(f"/patients/{patient}/care-plans/{plan}/goals", headers=nurse,
                          json={"description": "Bor trygt hjemme"}))
            _ok(http.post(f"/patients/{patient}/care-plans/{plan}/interventions",
                          headers=nurse, json={"description": "Medisinhjelp morgen og kveld",
                                               "frequency": "daglig 08:00 og 20:00"}))
            for hour, title in ((8, "Morgenbesøk: medisiner"), (20, "Kveldsbesøk: medisiner")):
                due = datetime.combine(today, time(hour), OSLO)
                _ok(http.post(f"/patients/{patient}/tasks", headers=nurse, json={
                    "kind": "home_care_visit", "title": title, "unit": HOME_CARE,
                    "due_at": due.isoformat(), "care_plan_id": plan}))
            _ok(http.post(f"/patients/{patient}/notes?sign=true", headers=nurse, json={
                "kind": "home_care_visit",
                "text": f"{given} hadde en rolig natt. Tok medisinene, spiste frokost."}))
            for code, value in (("8867-4", 76 + i), ("8480-6", 138), ("8462-4", 84),
                                ("8310-5", 36.8)):
                _ok(http.post(f"/patients/{patient}/observations", headers=nurse,
                              json={"code": code, "value": value}))
            if name == "Ola Nordmann":
                _ok(http.post(f"/patients/{patient}/critical-info", headers=nurse, json={
                    "category": "drug_reaction", "substance": "Penicillin",
                    "reaction": "Utslett og hevelse", "severity": "severe"}))
            bar.advance(task)


# --- the medication lists ----------------------------------------------------------------------
# (product id in the sample catalogue, dose, indication) per patient
DEMO_LISTS = {
    "Kari Nordmann": (
        ("ID_51880918-B912-5B4F-B068-44B21E91FC2D",   # Levaxin 50 µg
         {"amount": 1, "unit": "tablett", "times_of_day": ["08:00"]}, "Hypotyreose"),
        ("ID_A574264A-D850-5369-94C3-C313934C2FFF",   # Paracet 500 mg
         {"amount": 2, "unit": "tablett", "times_of_day": ["08:00", "14:00", "20:00"]},
         "Artrosesmerter"),
        ("ID_B0D8BCAE-FBA3-5ED9-B8F7-5902CE100988",   # Movicol
         {"amount": 1, "unit": "dosepose", "as_needed": True, "max_per_day": 2},
         "Obstipasjon")),
    "Ola Nordmann": (
        ("ID_69D20C22-0364-5D59-A87F-0AFCBD06E6D3",   # Marevan 2,5 mg
         {"amount": 1, "unit": "tablett", "times_of_day": ["20:00"],
          "instructions": "Dosering etter INR; se doseringskort"}, "Atrieflimmer"),
        ("ID_8A6F2781-1ADF-50AF-8151-A680DA9A002F",   # Selo-Zok 50 mg
         {"amount": 1, "unit": "tablett", "times_of_day": ["08:00"]}, "Hypertensjon"),
        ("ID_A574264A-D850-5369-94C3-C313934C2FFF",   # Paracet 500 mg
         {"amount": 2, "unit": "tablett", "as_needed": True, "max_per_day": 6}, "Smerter")),
}


def seed_medication(base: str, issuer: DevIssuer, people: dict) -> None:
    """Kari's and Ola's medication lists, prescribed by the home-care unit's physician (the
    grant's care relation covers the unit). Seeding again adds nothing to a list that has
    entries."""
    doctor = {"Authorization": "Bearer " + issuer.mint_practitioner(
        "7123456", MUNICIPALITY, HOME_CARE, ("physician", "prescriber"), "Lege Tilsynslege")}
    with httpx.Client(base_url=base, timeout=30) as http, Progress(console=console) as bar:
        task = bar.add_task("seeding the medication lists",
                            total=sum(map(len, DEMO_LISTS.values())))
        for name, orders in DEMO_LISTS.items():
            patient = people[name][0]
            path = f"/patients/{patient}/medication-list"
            current = _until_ok(http, path, doctor)
            if current["entries"]:
                bar.advance(task, len(orders))
                continue
            version = current["version"]
            for product, dose, indication in orders:
                r = _ok(http.post(f"{path}/prescriptions", headers=doctor | {
                    "If-Match": f'W/"{version}"'}, json={
                    "product_id": product, "dose": {"route": "oral"} | dose,
                    "indication": indication}))
                version = int(r.headers["ETag"].removeprefix("W/").strip('"'))
                bar.advance(task)


def _until_ok(http: httpx.Client, path: str, headers: dict, timeout_s: float = 60) -> dict:
    """Wait until the caller may read ``path`` (a care relation takes a moment to travel from
    the journal through the consent service and back)."""
    deadline = monotonic() + timeout_s
    while True:
        r = http.get(path, headers=headers)
        if r.status_code == 200:
            return r.json()
        if monotonic() > deadline:
            raise typer.BadParameter(f"GET {path}: still {r.status_code} after {timeout_s} s: "
                                     f"{r.text[:200]}")
        sleep(0.3)


# `ehr seed municipality` (issue 14's name for it): the registry export's own command, which
# builds a synthetic municipality through the journal's API
seed.command("municipality")(seed_municipality)
