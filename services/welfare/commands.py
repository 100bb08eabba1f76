"""``ehr welfare``: the welfare service's commands (a composition root: reads settings).

    ehr welfare worker      the faust worker: the alert rules on welfare.events
    ehr welfare simulate --devices N --minutes M   device traffic through the real APIs
"""

from __future__ import annotations

from datetime import timedelta

import typer

from libs.config import get_settings
from libs.kernel.heap import settle_heap
from services.welfare.domain.rules import RuleConfig
from services.welfare.domain.windows import WindowConfig
from services.welfare.settings import WelfareSettings

welfare = typer.Typer(help="Welfare technology: the alert rules' worker, a device simulator.",
                      no_args_is_help=True)


def rule_config(settings: WelfareSettings) -> RuleConfig:
    return RuleConfig(unit=settings.welfare_response_unit,
                      response_sla=timedelta(minutes=settings.welfare_response_sla_min),
                      follow_up_within=timedelta(hours=settings.welfare_follow_up_h))


@welfare.command()
def worker(schema: str = typer.Option("welfare", help="the welfare service's schema")) -> None:
    """Run the faust worker: the alert rules on welfare.events."""
    import faust  # noqa: PLC0415

    from services.welfare.worker import build_worker, registry  # noqa: PLC0415

    settings = WelfareSettings.for_service(get_settings())
    app = build_worker(settings, registry(), schema=schema, topics={},
                       config=rule_config(settings), window_config=WindowConfig(
                           lateness=timedelta(minutes=settings.welfare_window_lateness_min)))
    settle_heap()   # a long-running process (libs/kernel/heap.py)
    faust.Worker(app, loglevel="warning").execute_from_commandline()


@welfare.command()
def simulate(devices: int = typer.Option(10, min=1, max=5000, help="how many devices"),
             minutes: int = typer.Option(5, min=1, max=24 * 60,
                                         help="minutes of traffic, ending now"),
             seed: int = typer.Option(1, help="the same seed gives the same traffic"),
             journal_url: str = "http://127.0.0.1:8004",
             consent_url: str = "http://127.0.0.1:8003",
             welfare_url: str = "http://127.0.0.1:8008") -> None:
    """Simulate devices through the real APIs: dispensers with some missed doses, alarms at
    plausible rates, home-monitoring tablets with some measurements missing."""
    import asyncio  # noqa: PLC0415

    import httpx  # noqa: PLC0415
    from rich.console import Console  # noqa: PLC0415
    from rich.progress import Progress  # noqa: PLC0415

    from libs.access.dev_issuer import DevIssuer  # noqa: PLC0415
    from libs.access.model import Role  # noqa: PLC0415
    from services.welfare.simulate import Clients, SimulationError  # noqa: PLC0415
    from services.welfare.simulate import simulate as run  # noqa: PLC0415

    settings = WelfareSettings.for_service(get_settings())
    console = Console()
    if settings.environment == "production":
        console.print("[bold red]error:[/] simulated devices never run in production")
        raise typer.Exit(1)
    issuer, unit, org = DevIssuer.from_settings(settings), "974600978", "123456785"

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def main() -> tuple[dict[str, int], list[str]]:
        async with (httpx.AsyncClient(base_url=journal_url, timeout=60) as j,
                    httpx.AsyncClient(base_url=consent_url, timeout=60) as c,
                    httpx.AsyncClient(base_url=welfare_url, timeout=60) as w):
            clients = Clients(
                j, c, w,
                case_worker=bearer(issuer.mint_practitioner(
                    "5550001", org, "889640782", [Role.other], "Kari Saksbehandler")),
                leader=bearer(issuer.mint_practitioner(
                    "1234567", org, unit, [Role.unit_leader], "Enhets Leder")),
                nurse=bearer(issuer.mint_practitioner(
                    "9144889", org, unit, [Role.nurse], "Nina Sykepleier")),
                device=lambda client_id: bearer(issuer.mint_device(client_id)))
            with Progress(console=console) as bar:
                task = bar.add_task(f"{devices} devices, {minutes} min", total=None)
                return await run(clients, devices=devices, minutes=minutes, seed=seed,
                                 unit=unit, progress=lambda n, total: bar.update(
                                     task, advance=n, total=total))

    try:
        counts, people = asyncio.run(main())
    except (SimulationError, httpx.HTTPError) as exc:
        console.print(f"[bold red]error:[/] {exc}", markup=False)
        raise typer.Exit(1) from None
    console.print(f"✓ {counts['devices']} devices sent {counts['readings']} readings: "
                  f"{counts['recorded']} recorded, {counts['repeated']} already there")
    console.print("people (patient ids): " + ", ".join(people), soft_wrap=True)
