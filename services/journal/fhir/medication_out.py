"""An import's medications, sent to the medication service over HTTP (issue 19 item 4): the
journal keeps no medication, and never imports the medication service's code.

Each MedicationRequest (intent order or plan; status active, stopped or completed) and
MedicationStatement (active, stopped or completed) of a bundle becomes an imported
MedicationStatement, ``POST <fhir base>/MedicationStatement`` on the medication service's base
or the gateway's one FHIR base: the codings as the source gave them (RxNorm, ATC, SNOMED CT), the
source's ``fullUrl`` as its identifier (so a second import changes nothing), the source's
authoredOn as ``dateAsserted`` and its treatment period, its dose as text. The medication service
records it as history (stopped, completed) or as something the patient may use that must be
reconciled (active); it is not an order and goes to no pharmacy.

The caller is the importing clinician of ``synthea.py`` (HPR ``IMPORTER_HPR``, a nurse of the
import unit). The import registers patients as a system, which gives no care relation, so the
medication service answers 403 until the import unit has one: the unit's leader then assigns it
(``POST /patients/{id}/care-relations`` on the consent service, basis "other", with the reason),
and the medication service lets the importer write once the relation has reached it from the
consent service over Kafka. Both are retried (403, 404, 503) for at
most ``wait_s`` per patient (``AFTER_A_TIMEOUT_S`` once one patient timed out: the journal is
likely not running); a second import finds the relation and assigns none.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic
from uuid import UUID

import httpx
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from services.journal.fhir.plan import NOT_JOURNAL
from services.journal.fhir.synthea import IMPORT_UNIT, IMPORTER_HPR

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
KEPT_SYSTEMS = (RXNORM, "http://www.whocc.no/atc", "http://snomed.info/sct")
URI = "urn:ietf:rfc:3986"
TYPES = ("MedicationRequest", "MedicationStatement")
STATUSES = ("active", "stopped", "completed")
INTENTS = ("order", "plan", "original-order", "reflex-order", "filler-order", "instance-order")
MUNICIPALITY = "123456785"     # demo value: the import unit's legal entity (cli/seed.py)
KEPT = "kept in the medication service"
RETRIED = (403, 503)           # not (yet) allowed: the patient's care relation is on its way
AFTER_A_TIMEOUT_S = 5.0        # the wait for the next patients once one timed out
WRITE_HEADERS = {"Content-Type": "application/fhir+json", "Prefer": "return=minimal"}
ASSIGNED = {"purpose": "behandling", "basis": "other",
            "reason": "Import av legemiddelopplysninger fra Synthea (syntetiske pasienter)"}


@dataclass
class Sent:
    """What became of an import's medications, per resource type."""

    in_bundles: Counter[str] = field(default_factory=Counter)
    kept: Counter[str] = field(default_factory=Counter)
    already: Counter[str] = field(default_factory=Counter)
    not_sent: Counter[str] = field(default_factory=Counter)   # "<Type>: why" -> count

    @property
    def total(self) -> int:
        return sum(self.in_bundles.values())


def importer_tokens(issuer) -> tuple[str, str]:
    """The importing clinician's token (a nurse of the import unit) and its unit leader's, from
    the development issuer (an import of synthetic patients is refused in production)."""
    return (issuer.mint_practitioner(IMPORTER_HPR, MUNICIPALITY, IMPORT_UNIT, ("nurse",),
                                     "Synthea-import"),
            issuer.mint_practitioner(IMPORTER_HPR, MUNICIPALITY, IMPORT_UNIT, ("unit_leader",),
                                     "Synthea-import"))


# --- a bundle's medications as imported MedicationStatements ------------------------------------

def _concept(r: dict, urls: dict[str, dict]) -> dict | None:
    concept = r.get("medicationCodeableConcept")
    if concept is None and (ref := (r.get("medicationReference") or {}).get("reference")):
        concept = (urls.get(ref) or {}).get("code")
    if not concept:
        return None
    codings = [{k: c[k] for k in ("system", "code", "display") if c.get(k)}
               for c in concept.get("coding") or [] if c.get("system") in KEPT_SYSTEMS
               and c.get("code")][:10]
    return {"coding": codings} | ({"text": concept["text"]} if concept.get("text") else {}) \
        if codings else None


def _dose_text(d: dict) -> str | None:
    if d.get("text"):
        return str(d["text"])[:500]
    parts = []
    for rate in d.get("doseAndRate") or []:
        q = rate.get("doseQuantity") or {}
        if q.get("value") is not None:
            parts.append(f"{q['value']} {q.get('unit') or ''}".strip())
    repeat = (d.get("timing") or {}).get("repeat") or {}
    if repeat.get("frequency") and repeat.get("period"):
        parts.append(f"{repeat['frequency']} gang(er) per {repeat['period']} "
                     f"{repeat.get('periodUnit', '')}".strip())
    return ", ".join(parts) or None


def _statement(entry: dict, patient_id: UUID, urls: dict[str, dict]) -> dict | str:
    """The imported MedicationStatement, or why it is not sent."""
    r, kind = entry["resource"], entry["resource"]["resourceType"]
    if r.get("status") not in STATUSES:
        return f"{kind}: status {r.get('status')} is not imported (only {', '.join(STATUSES)})"
    if kind == "MedicationRequest" and r.get("intent") not in INTENTS:
        return f"{kind}: intent {r.get('intent')} is not an order or a plan"
    concept = _concept(r, urls)
    if concept is None:
        return f"{kind}: no RxNorm, ATC or SNOMED CT coding"
    source = entry.get("fullUrl") or ""
    if not source.startswith("urn:uuid:"):
        try:
            source = f"urn:uuid:{UUID(str(r.get('id')))}"
        except ValueError:
            return f"{kind}: no urn:uuid fullUrl or id to know it by"
    identifier = {"system": URI, "value": source}
    if kind == "MedicationRequest":
        dosages = r.get("dosageInstruction") or []
        bounds = ((dosages[0].get("timing") or {}).get("repeat") or {}).get("boundsPeriod") \
            if dosages else None
        period = bounds or ({"start": r["authoredOn"][:10]} if r.get("authoredOn") else None)
        asserted = r.get("authoredOn")
    else:
        dosages = r.get("dosage") or []
        period = r.get("effectivePeriod") or ({"start": r["effectiveDateTime"][:10]}
                                              if r.get("effectiveDateTime") else None)
        asserted = r.get("dateAsserted")
    dosage = {k: v for k, v in (("text", _dose_text(dosages[0]) if dosages else None),
                                ("asNeededBoolean", dosages[0].get("asNeededBoolean")
                                 if dosages else None)) if v is not None}
    period = {k: str(period[k])[:10] for k in ("start", "end") if (period or {}).get(k)}
    return {k: v for k, v in {
        "resourceType": "MedicationStatement", "identifier": [identifier],
        "derivedFrom": [{"type": kind, "identifier": identifier}],
        "status": r["status"], "medicationCodeableConcept": concept,
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectivePeriod": period or None, "dateAsserted": asserted,
        "dosage": [dosage] if dosage else None}.items() if v is not None}


def statements_of(bundle: dict, patient_id: UUID, sent: Sent) -> list[dict]:
    """The bundle's medications as imported statements; counts them, and why any is not sent."""
    entries = [e for e in bundle.get("entry") or [] if isinstance(e, dict)
               and isinstance(e.get("resource"), dict)]
    urls = {e["fullUrl"]: e["resource"] for e in entries if e.get("fullUrl")}
    out = []
    for e in entries:
        if (kind := e["resource"].get("resourceType")) in TYPES:
            sent.in_bundles[kind] += 1
            made = _statement(e, patient_id, urls)
            if isinstance(made, str):
                sent.not_sent[made] += 1
            else:
                out.append(made)
    return out


# --- sending -----------------------------------------------------------------------------------

def _why(r: httpx.Response) -> str:
    try:
        issues = r.json().get("issue") or []
        return "; ".join(str(i.get("diagnostics", "")) for i in issues)[:300] or str(r.status_code)
    except ValueError:
        return str(r.status_code)


class Unreachable(Exception):
    """A service did not answer: ``what`` names it and its base URL."""

    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


@dataclass
class Importer:
    """The import's clients: the FHIR base its statements go to and the consent service, with
    the importing clinician's token (a nurse of the import unit) and the unit leader's."""

    fhir: httpx.AsyncClient
    consent: httpx.AsyncClient
    writer: str
    leader: str
    wait_s: float = 60

    async def _call(self, client: httpx.AsyncClient, what: str, path: str, body: dict,
                    token: str, **headers: str) -> httpx.Response:
        try:
            return await client.post(path, json=body, headers={
                "Authorization": f"Bearer {token}"} | headers)
        except httpx.TransportError:
            raise Unreachable(f"the {what} at {client.base_url} did not answer") from None

    async def _assign(self, patient_id: UUID, deadline: float) -> None:
        """The import unit's leader assigns the unit a care relation (retried while the
        consent service answers 403, 404 or 503)."""
        pause = 0.1
        while True:
            r = await self._call(self.consent, "consent service",
                                 f"/patients/{patient_id}/care-relations", ASSIGNED, self.leader)
            if r.status_code not in (*RETRIED, 404) or monotonic() > deadline:
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)

    async def send(self, patient_id: UUID, statements: list[dict], sent: Sent,
                   advance: Callable[[], None] = lambda: None) -> None:
        """POST one patient's statements. While the medication service refuses the first
        (403: no care relation for the import unit yet; 503), the unit leader assigns one and
        it is tried again, for at most ``wait_s``."""
        deadline, pause, assigned = monotonic() + self.wait_s, 0.1, False
        for i, body in enumerate(statements):
            kind = body["derivedFrom"][0]["type"]
            try:
                r = await self._call(self.fhir, "medication service", "/MedicationStatement",
                                     body, self.writer, **WRITE_HEADERS)
                while i == 0 and r.status_code in RETRIED and monotonic() < deadline:
                    if not assigned:
                        await self._assign(patient_id, deadline)
                        assigned = True
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 1.0)
                    r = await self._call(self.fhir, "medication service",
                                         "/MedicationStatement", body, self.writer,
                                         **WRITE_HEADERS)
            except Unreachable as exc:
                for rest in statements[i:]:
                    sent.not_sent[f"{rest['derivedFrom'][0]['type']}: {exc.what}"] += 1
                raise
            if r.status_code in RETRIED:
                sent.not_sent[f"{kind}: the medication service did not let the importer write "
                              "for the patient in time"] += len(statements) - i
                self.wait_s = min(self.wait_s, AFTER_A_TIMEOUT_S)   # likely the same for all
                for _ in statements[i:]:
                    advance()
                return
            if r.status_code == 201:
                sent.kept[kind] += 1
            elif r.status_code == 200:
                sent.already[kind] += 1
            else:
                sent.not_sent[f"{kind} refused by the medication service: {_why(r)}"] += 1
            advance()


def summary_lines(sent: Sent) -> list[str]:
    """The summary's lines: per type, in the bundles, kept, and why the rest is not there."""
    lines = ["medication service (in the bundles, kept there; the rest, and why)"] \
        if sent.total else []
    for kind in TYPES:
        if not sent.in_bundles[kind]:
            continue
        why = "; ".join(f"{w.split(': ', 1)[-1]} ({n})" for w, n in sorted(sent.not_sent.items())
                        if w.startswith(kind))
        lines.append(f"  {kind}: {sent.in_bundles[kind]} in the bundles, "
                     f"{sent.kept[kind] + sent.already[kind]} {KEPT} as imported "
                     f"MedicationStatements ({sent.already[kind]} of them there already)"
                     + (f" — {why}" if why else ""))
    return lines


Statements = list[tuple[UUID, list[dict]]]


async def send_all(fhir_base: str, consent_base: str, tokens: tuple[str, str],
                   batches: Statements, sent: Sent, *, wait_s: float = 60,
                   advance: Callable[[], None] = lambda: None) -> None:
    """Every patient's statements, one patient at a time; a service that does not answer
    stops the sending (the rest is counted as not sent, with why)."""
    async with httpx.AsyncClient(base_url=fhir_base.rstrip("/"), timeout=30) as fhir, \
            httpx.AsyncClient(base_url=consent_base.rstrip("/"), timeout=30) as consent:
        importer = Importer(fhir, consent, *tokens, wait_s=wait_s)
        for n, (patient_id, statements) in enumerate(batches):
            try:
                await importer.send(patient_id, statements, sent, advance)
            except Unreachable as exc:
                for _, rest in batches[n + 1:]:
                    for body in rest:
                        sent.not_sent[f"{body['derivedFrom'][0]['type']}: {exc.what}"] += 1
                return


def settle(skipped: Counter[str], sent: Sent) -> None:
    """The journal's skip reason for the medication types ("belongs to the medication
    service") becomes, for those the medication service holds, that they are kept there."""
    for kind in TYPES:
        held, journal = sent.kept[kind] + sent.already[kind], NOT_JOURNAL.get(kind, "")
        if held:
            skipped[journal] -= held
            if skipped[journal] <= 0:
                del skipped[journal]
            skipped[f"{kind}: {KEPT} as imported MedicationStatements"] += held


def send_import(files: list[Path], plans: list, bases: tuple[str, str],
                tokens: tuple[str, str], sent: Sent, console) -> None:
    """``ehr import synthea``'s medications: each registered patient's, with a progress bar."""
    batches: Statements = []
    for path, plan in zip(files, plans, strict=True):
        found = statements_of(json.loads(path.read_text(encoding="utf-8")), plan.patient_id,
                              sent)
        if plan.registration is None:
            for body in found:
                sent.not_sent[f"{body['derivedFrom'][0]['type']}: the patient is not "
                              "registered"] += 1
        elif found:
            batches.append((plan.patient_id, found))
    if not batches:
        return
    if bases[0] == "off":
        for _, found in batches:
            for body in found:
                sent.not_sent[f"{body['derivedFrom'][0]['type']}: not sent "
                              "(--medication-url off)"] += 1
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("medications"), console=console) as progress:
        task = progress.add_task("to the medication service",
                                 total=sum(len(s) for _, s in batches))
        asyncio.run(send_all(*bases, tokens, batches, sent,
                             advance=lambda: progress.advance(task)))
