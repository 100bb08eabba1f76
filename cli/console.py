"""What every ``ehr`` command shares: the consoles and one-sentence failures."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

from libs.config import REPO_ROOT

console = Console()
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(msg: str) -> NoReturn:
    console.print(f"[bold red]error:[/] {msg}")
    raise typer.Exit(1)


def host_of(url: str) -> str:
    return url.split("@")[-1]


def rel(p: Path) -> Path:
    return p.relative_to(REPO_ROOT) if p.is_relative_to(REPO_ROOT) else p


def run_kafka(coro, bootstrap: str):
    """Run a command's coroutine; an unreachable broker is one clear sentence, not a trace."""
    from aiokafka.errors import KafkaError

    try:
        return asyncio.run(coro)
    except (KafkaError, OSError, asyncio.TimeoutError) as exc:
        fail(f"cannot reach Kafka at {bootstrap}: {exc or type(exc).__name__}; start it "
             "with `ehr dev up`, or check KAFKA_BOOTSTRAP_SERVERS and the EHR_KAFKA_* security "
             "settings")
