"""``ehr import synthea FOLDER``: Synthea FHIR R4 bundles into the journal's event store.

Every bundle is read and checked first (JSON, FHIR R4 Bundle, one patient); a broken one stops the
import before anything is written, with one sentence naming the file. Then each patient is
registered (a synthetic national id, ``services/journal/fhir/synthea.py``) and its entries are decided
by the journal's domain, one command at a time, as the system actor ``import:synthea``. A refused
entry is counted with the refusal's message. Ids are deterministic, so a second run appends
nothing and reports everything as already imported. No national id is ever printed.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from sqlalchemy.exc import DBAPIError

from libs.config import Settings, get_settings

console = Console()
importer = typer.Typer(help="Load external data into the services.", no_args_is_help=True)

KIND_LABELS = {
    "observation": "observations (vital signs)",
    "result": "observations (results: laboratory, other vital signs, social history, ...)",
    "condition": "conditions",
    "coded_condition": "conditions with every coding (SNOMED CT, ICPC-2, ICD-10)",
    "immunization": "immunizations",
    "encounter": "contacts (encounters of every class)",
    "procedure": "procedures",
    "report": "diagnostic reports (with their results)",
    "condition_resolved": "conditions resolved",
    "critical_info": "critical information (CAVE)",
    "episode_started": "legevakt episodes started",
    "episode_ended": "legevakt episodes ended",
    "care_plan": "care plans (with their activities)",
    "goal": "goals (in their care plans)",
    "death": "deaths",
}


@dataclass
class Report:
    bundles: int = 0
    patients_imported: int = 0
    patients_present: int = 0
    written: Counter[str] = field(default_factory=Counter)
    already: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    replaced: Counter[str] = field(default_factory=Counter)
    in_bundles: Counter[str] = field(default_factory=Counter)
    sources: set[str] = field(default_factory=set)   # the resources the journal now holds


def _fail(msg: str) -> NoReturn:
    console.print(f"[bold red]error:[/] {msg}", soft_wrap=True, highlight=False)
    raise typer.Exit(1)


def _host_of(url: str) -> str:
    return url.split("@")[-1]


def _bundle_files(folder: Path, limit: int | None) -> list[Path]:
    if folder.is_file():
        files = [folder]
    elif folder.is_dir():
        files = sorted(p for p in folder.glob("*.json") if p.is_file())
    else:
        _fail(f"{folder} is neither a folder nor a file.")
    if not files:
        _fail(f"{folder} holds no *.json bundles.")
    return files[:limit] if limit is not None else files


def _read(path: Path, now: datetime):
    from services.journal.fhir.deciders import validate_bundle
    from services.journal.fhir.from_fhir import map_bundle
    from services.journal.fhir.plan import BundleError
    from services.journal.fhir.synthea import SyntheaPolicy

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        _fail(f"{path.name} is not valid JSON: it is not UTF-8 text.")
    except json.JSONDecodeError as exc:
        _fail(f"{path.name} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
              f"{exc.msg}).")
    except OSError as exc:
        _fail(f"{path.name} cannot be read ({exc.strerror or exc}).")
    try:
        validate_bundle(data)
        return map_bundle(data, SyntheaPolicy(now))
    except BundleError as exc:
        _fail(f"{path.name}: {exc}")


@importer.command("synthea")
def import_synthea(
    folder: Annotated[Path, typer.Argument(help="folder of Synthea FHIR R4 transaction "
                                           "bundles (*.json), or one bundle")],
    limit: Annotated[int | None, typer.Option(min=1, help="import only the first N bundles "
                                              "(by file name)")] = None,
    schema: Annotated[str, typer.Option(help="the journal's database schema")] = "journal",
    medication_url: Annotated[str, typer.Option(
        envvar="EHR_IMPORT_MEDICATION_URL", help="the FHIR base the medications go to: the "
        "medication service's or the gateway's; off: send none")] = "http://127.0.0.1:8005/fhir",
    consent_url: Annotated[str, typer.Option(
        envvar="EHR_IMPORT_CONSENT_URL", help="the consent service, where the import unit's "
        "leader assigns the care relation")] = "http://127.0.0.1:8003",
) -> None:
    """Import Synthea patients into the journal as synthetic Norwegian demo patients, and
    their medications into the medication service (over HTTP, once it knows the patient)."""
    from libs.events.db import check_schema

    s = get_settings()
    try:
        check_schema(schema)
    except ValueError as exc:
        _fail(f"--schema: {exc}")
    if s.environment == "production":
        _fail("Synthea data are synthetic test patients and are not imported in production.")
    files = _bundle_files(folder, limit)
    now = datetime.now(UTC)
    report = Report()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("bundles"), console=console) as progress:
        task = progress.add_task("checking", total=len(files))
        plans = []
        for path in files:
            plans.append(_read(path, now))
            progress.advance(task)
        report.bundles = len(plans)
        for plan in plans:
            report.in_bundles.update(plan.in_bundle)
        task = progress.add_task("importing", total=len(plans))
        try:
            asyncio.run(_apply(plans, s, schema, report, lambda: progress.advance(task)))
        except (OSError, DBAPIError) as exc:
            _fail(f"cannot reach PostgreSQL at {_host_of(s.effective_database_url)} ({exc}); "
                  "start it with `ehr dev up` or set DATABASE_URL")
    from libs.access.dev_issuer import DevIssuer
    from services.journal.fhir import medication_out as med

    medication = med.Sent()
    med.send_import(files, plans, (medication_url, consent_url),
                    med.importer_tokens(DevIssuer.from_settings(s)), medication, console)
    med.settle(report.skipped, medication)
    _print(report)
    for line in med.summary_lines(medication):
        console.print(line, soft_wrap=True, highlight=False, markup=False)


async def _apply(plans: list, s: Settings, schema: str, report: Report,
                 advance: Callable[[], None]) -> None:
    from libs.events.db import make_engine
    from libs.events.migrations import run_migrations
    from libs.events.store import EventStore
    from libs.events.registry import Registry
    from services.journal import contract
    from services.journal.store import JournalStore

    url = s.effective_database_url
    await run_migrations(url, schema)
    engine = make_engine(url, schema, pool_size=2)
    try:
        journal = JournalStore(EventStore(engine, Registry.of(contract)))
        await journal.setup()
        for plan in plans:
            await _apply_plan(journal, plan, s, report)
            advance()
    finally:
        await engine.dispose()


async def _apply_plan(journal, plan, s: Settings, report: Report) -> None:
    from libs.kernel.errors import DomainError as Refused
    from services.journal.fhir.deciders import decider
    from services.journal.fhir.synthea import ACTOR

    report.skipped.update(plan.skipped)
    patient, _ = await journal.current(plan.patient_id)
    if patient.registered:
        report.patients_present += 1
        report.sources.add(plan.source)
    elif plan.registration is None:  # plan.skipped says why
        for entry in plan.entries:
            report.skipped[f"{KIND_LABELS[entry.kind]}: the patient is not registered"] += 1
        return
    else:
        problem = await _register(journal, plan, s)
        if problem is not None and (await journal.current(plan.patient_id))[0].registered:
            problem = None  # a concurrent import registered it first
            report.patients_present += 1
        elif problem is None:
            report.patients_imported += 1
            report.sources.add(plan.source)
            report.replaced.update(plan.replaced)
        if problem is not None:
            report.skipped[f"Patient refused: {problem}"] += 1
            for entry in plan.entries:
                report.skipped[f"{KIND_LABELS[entry.kind]}: the patient is not registered"] += 1
            return
    for entry in plan.entries:
        try:
            result = await journal.execute(plan.patient_id,
                                           decider(entry, datetime.now(UTC),
                                                   journal.observations), ACTOR)
        except Refused as exc:
            report.skipped[f"{entry.source.split('/')[0]} refused: {exc.message}"] += 1
            continue
        (report.already if result is None else report.written)[entry.kind] += 1
        report.sources.add(entry.source)


async def _register(journal, plan, s: Settings) -> str | None:
    """Register the plan's patient: the refusal's message, or None when it was registered. A
    synthetic number another patient already holds is replaced by the next alternative."""
    from libs.kernel.errors import DomainError as Refused
    from services.journal.fhir.deciders import register_decider
    from services.journal.fhir.synthea import ACTOR

    for number in (plan.registration.national_id, *plan.alternatives):
        if await journal.claimed_by(number) not in (None, plan.patient_id):
            continue
        registration = plan.registration.model_copy(update={"national_id": number})
        try:
            await journal.register(plan.patient_id, register_decider(
                registration, datetime.now(UTC), production=s.environment == "production",
                rule_2032=s.id_rule_2032), ACTOR)
        except Refused as exc:
            return exc.message
        return None
    return "every synthetic national id tried for this birth date is already taken"


def _print(report: Report) -> None:
    summary = Table(title="Synthea import", show_header=False)
    summary.add_column("what")
    summary.add_column("count", justify="right")
    summary.add_row("bundles read", str(report.bundles))
    summary.add_row("patients imported", str(report.patients_imported))
    summary.add_row("patients already present", str(report.patients_present))
    console.print(summary)

    entries = Table(title="journal entries")
    entries.add_column("kind")
    entries.add_column("written", justify="right")
    entries.add_column("already imported", justify="right")
    for kind, label in KIND_LABELS.items():
        if report.written[kind] or report.already[kind]:
            entries.add_row(label, str(report.written[kind]), str(report.already[kind]))
    console.print(entries)

    _print_types(report)

    if report.replaced:
        replaced = Table(title="replaced fields (not skipped)")
        replaced.add_column("field", overflow="fold")
        replaced.add_column("patients", justify="right")
        for what, n in sorted(report.replaced.items()):
            replaced.add_row(what, str(n))
        console.print(replaced)

    if report.skipped:
        skipped = Table(title=f"skipped ({sum(report.skipped.values())} resources)")
        skipped.add_column("reason", overflow="fold")
        skipped.add_column("count", justify="right")
        for reason, n in sorted(report.skipped.items(), key=lambda x: (-x[1], x[0])):
            skipped.add_row(reason, str(n))
        console.print(skipped)

    written, already = sum(report.written.values()), sum(report.already.values())
    console.print(f"[green]✓[/] {report.bundles} bundles: {report.patients_imported} patients "
                  f"imported, {report.patients_present} already present; {written} entries "
                  f"written, {already} already imported", soft_wrap=True, highlight=False)


def _print_types(report: Report) -> None:
    """Per resource type: in the bundles, in the journal, and why the rest is not."""
    from services.journal.fhir.import_summary import READ_BACK_NOTES, by_type

    rows = by_type(report.in_bundles, report.sources, report.skipped)
    console.print("[bold]per resource type[/] (in the bundles, in the journal; the rest, and "
                  "why)", soft_wrap=True, highlight=False)
    for r in rows:
        why = "; ".join(f"{reason} ({n})" for reason, n in r.why) if r.missing else ""
        note = READ_BACK_NOTES.get(r.rtype, "") if r.imported else ""
        label = {"billing": " (billing)", "directory": " (directory)"}.get(r.kind, "")
        rest = "".join(f" — {x}" for x in (why, note) if x)
        console.print(f"  {r.rtype}{label}: {r.in_bundles} in the bundles, {r.imported} in "
                      f"the journal{rest}", soft_wrap=True, highlight=False, markup=False)
