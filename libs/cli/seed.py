"""``ehr seed demo``: demo people and access facts through the running services' APIs.

Only synthetic national ids (Tenor-style, month + 80). Patient ids are derived from the number,
so seeding twice finds the same people (a 409 means "already there").
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from libs.access.dev_issuer import DevIssuer
from libs.access.identifiers import synthetic_number
from libs.config import get_settings

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
def seed_demo(url: Annotated[str | None, typer.Option(help="consent service URL")] = None) -> None:
    """Register demo people, care relations, a guardian, a consent and a block."""
    s = get_settings()
    base = url or f"http://127.0.0.1:{s.consent_port}"
    issuer = DevIssuer.from_settings(s)
    nurse = {"Authorization": "Bearer " + issuer.mint_practitioner(
        "9144889", MUNICIPALITY, HOME_CARE, ("nurse",), "Nina Sykepleier")}
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
        for name in ("Kari Nordmann", "Ola Nordmann", "Emma Hansen", "Jonas Hansen"):
            _ok(http.post(f"/patients/{people[name][0]}/care-relations", headers=nurse,
                          json={"purpose": "hjemmesykepleie", "basis": "service_decision"}))
        bar.advance(task)
        token = None
        for child in ("Emma Hansen", "Jonas Hansen"):
            r = _ok(http.post(f"/patients/{people[child][0]}/guardians", headers=nurse, json={
                "guardian": str(people["Ingrid Hansen"][0]), "shares_address": True}))
            token = r.headers.get("X-Consistency-Token", token)
        bar.advance(task)
        parent = {"Authorization": "Bearer " + issuer.mint_citizen(people["Ingrid Hansen"][1]),
                  "X-Acting-For": str(people["Emma Hansen"][0])}
        if token:
            parent["X-Consistency-Token"] = token
        existing = _ok(http.get(f"/patients/{people['Emma Hansen'][0]}/consents",
                                headers=parent)).json()
        if not existing:
            _ok(http.post(f"/patients/{people['Emma Hansen'][0]}/consents", headers=parent,
                          json={"sector": "school", "recipient_org": SCHOOL,
                                "categories": ["school_health"],
                                "purpose": "oppfølging av astma på skolen"}))
        bar.advance(task)
        kari = {"Authorization": "Bearer " + issuer.mint_citizen(people["Kari Nordmann"][1])}
        _ok(http.post(f"/patients/{people['Kari Nordmann'][0]}/blocks", headers=kari,
                      json={"target_kind": "practitioner", "target": "7654321"}))
        bar.advance(task)
        _ok(http.get(f"/patients/{people['Kari Nordmann'][0]}/consents", headers=nurse))
        bar.advance(task)
    table = Table("name", "patient id", "national id (synthetic)", "born")
    table.columns[1].no_wrap = True
    for name, born, _ in PEOPLE:
        table.add_row(name, str(people[name][0]), people[name][1], born.isoformat())
    console.print(table)
    console.print("Try: TOKEN=$(.venv/bin/ehr token practitioner --hpr 9144889 "
                  f"--org {MUNICIPALITY} --unit {HOME_CARE} --role nurse)", soft_wrap=True)
    console.print(f"     curl -H \"Authorization: Bearer $TOKEN\" "
                  f"{base}/patients/{people['Kari Nordmann'][0]}/consents", soft_wrap=True)
