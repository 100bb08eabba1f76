"""``ehr token``: tokens from the local development issuer (DOMAIN.md §10).

Each command prints only the token, so TOKEN=$(ehr token ...) works; errors and hints go to
stderr. A bad argument is one sentence and exit code 2, like a usage error."""

from __future__ import annotations

import json
from typing import Annotated, NoReturn

import typer

from cli.console import err_console
from libs.access.model import Role, Sector
from libs.config import get_settings

tokens = typer.Typer(help="Tokens from the local development issuer (refused in production).",
                     no_args_is_help=True)


def _fail(msg: str) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {msg}")
    raise typer.Exit(2)


def _dev_issuer():
    from libs.access.dev_issuer import DevIssuer
    from libs.access.tokens import TokenConfigError

    try:
        return DevIssuer.from_settings(get_settings())
    except (TokenConfigError, OSError, ValueError) as exc:
        _fail(f"the development issuer cannot start: {exc}")


TTL_HELP = "lifetime in seconds; at most (and by default) EHR_TOKEN_MAX_LIFETIME_S, 3600"


def _ttl(value: int | None) -> int:
    """The services refuse a token that lives longer than ``token_max_lifetime_s``."""
    longest = get_settings().token_max_lifetime_s
    if value is None:
        return longest
    if not 0 < value <= longest:
        _fail(f"--ttl: a token lives 1 to {longest} seconds here (EHR_TOKEN_MAX_LIFETIME_S)")
    return value


def _orgnr(value: str | None, option: str) -> str | None:
    from libs.kernel.identifiers import InvalidIdentifier, validate_orgnr

    try:
        return None if value is None else validate_orgnr(value)
    except InvalidIdentifier as exc:
        _fail(f"{option}: {exc}")


def _pid(value: str) -> str:
    """Development tokens are for synthetic test numbers only (month + 80, §11 req 3)."""
    from libs.kernel.identifiers import InvalidIdentifier, parse_person_id

    try:
        return parse_person_id(value, allow_real=False,
                               rule_2032=get_settings().id_rule_2032).value
    except InvalidIdentifier as exc:
        _fail(f"--pid: {exc}")


@tokens.command("practitioner")
def token_practitioner(
    hpr: Annotated[str, typer.Option(help="HPR number (digits)")],
    org: Annotated[str, typer.Option(help="organisation number of the legal entity")],
    role: Annotated[list[Role], typer.Option(help="repeat for several roles")],
    unit: Annotated[str | None, typer.Option(help="organisation number of the unit")] = None,
    name: Annotated[str | None, typer.Option(help="the person's name")] = None,
    pid: Annotated[str | None, typer.Option(help="synthetic national id")] = None,
    security_level: Annotated[int, typer.Option(help="HelseID security level")] = 4,
    ttl: Annotated[int | None, typer.Option(help=TTL_HELP)] = None,
) -> None:
    """A HelseID-shaped token for health personnel."""
    from libs.kernel.identifiers import InvalidIdentifier, parse_hpr

    try:
        hpr = parse_hpr(hpr)
    except InvalidIdentifier as exc:
        _fail(f"--hpr: {exc}")
    extra = {} if pid is None else {"pid": _pid(pid)}
    issuer = _dev_issuer()
    typer.echo(issuer.mint_practitioner(hpr, _orgnr(org, "--org"), _orgnr(unit, "--unit"),
                                        roles=role, name=name, security_level=security_level,
                                        ttl=_ttl(ttl), **extra))


@tokens.command("citizen")
def token_citizen(
    pid: Annotated[str, typer.Option(help="synthetic national id (11 digits)")],
    acr: Annotated[str, typer.Option(help="ID-porten assurance level")] = "idporten-loa-high",
    ttl: Annotated[int | None, typer.Option(help=TTL_HELP)] = None,
) -> None:
    """An ID-porten-shaped token for a citizen."""
    typer.echo(_dev_issuer().mint_citizen(_pid(pid), acr=acr, ttl=_ttl(ttl)))


@tokens.command("proxy")
def token_proxy(
    pid: Annotated[str, typer.Option(help="the parent's or representative's synthetic id")],
    acr: Annotated[str, typer.Option(help="ID-porten assurance level")] = "idporten-loa-high",
    ttl: Annotated[int | None, typer.Option(help=TTL_HELP)] = None,
) -> None:
    """A citizen token for someone acting for a child or a mandate giver."""
    token = _dev_issuer().mint_citizen(_pid(pid), acr=acr, ttl=_ttl(ttl))
    err_console.print("hint: send the patient you act for in the X-Acting-For header")
    typer.echo(token)


@tokens.command("sector")
def token_sector(
    sector: Annotated[Sector, typer.Option(help="the recipient's sector")],
    org: Annotated[str, typer.Option(help="organisation number of the recipient")],
    person_id: Annotated[str, typer.Option(help="the official's id (token sub)")] = "dev-official",
    ttl: Annotated[int | None, typer.Option(help=TTL_HELP)] = None,
) -> None:
    """A Maskinporten-shaped token for an official outside health care (NAV, school, ...)."""
    typer.echo(_dev_issuer().mint_sector(sector, _orgnr(org, "--org"), person_id=person_id,
                                         ttl=_ttl(ttl)))


@tokens.command("device")
def token_device(
    client_id: Annotated[str, typer.Option(help="the device's client id")],
    ttl: Annotated[int | None, typer.Option(help=TTL_HELP)] = None,
) -> None:
    """A client-credentials token for a welfare-technology device or gateway."""
    if not client_id.strip():
        _fail("--client-id must not be empty")
    typer.echo(_dev_issuer().mint_device(client_id.strip(), ttl=_ttl(ttl)))


@tokens.command("jwks")
def token_jwks() -> None:
    """The development issuer's public key set (JWKS), for EHR_JWKS or a service's config."""
    typer.echo(json.dumps(_dev_issuer().jwks(), indent=2))
