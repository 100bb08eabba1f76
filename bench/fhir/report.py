"""The FHIR benchmark's table and JSON (``bench/out/fhir-<time>.json``): per phase and side,
medians over the rounds of throughput, p50, p99 and CPU per request, the ratio ours ÷ HAPI
(median, with its range over the rounds), each side's throughput as a share of the floor's
(``bench/fhir/floor.py``, when it ran), where each side's CPU goes, and how busy the machine
was meanwhile with the benchmark's own client's CPU per request (counted for neither side: near
100 % busy, a side's throughput is what the client left it)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from rich.table import Table

from bench.fhir.workload import PHASES, PhaseResult


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summary(results: list[PhaseResult]) -> dict[str, dict[str, dict]]:
    """phase -> side -> medians over the rounds (and the per-round figures)."""
    out: dict[str, dict[str, dict]] = {}
    for phase in PHASES:
        for side in dict.fromkeys(r.side for r in results):
            runs = [r for r in results if r.phase == phase and r.side == side]
            if not runs:
                continue
            roles: dict[str, list[float]] = {}
            for r in runs:
                for role, ms in r.as_json()["cpu_ms_per_request_by_role"].items():
                    roles.setdefault(role, []).append(ms)
            status: dict[str, int] = {}
            for r in runs:
                for k, v in r.status.items():
                    status[str(k)] = status.get(str(k), 0) + v
            out.setdefault(phase, {})[side] = {
                "rate": _median([r.rate for r in runs]),
                "rates": [r.rate for r in runs],
                "p50_ms": _median([r.p(50) for r in runs]),
                "p99_ms": _median([r.p(99) for r in runs]),
                "cpu_ms": _median([r.cpu_ms for r in runs]),
                "cpu_ms_by_role": {k: _median(v) for k, v in sorted(roles.items())},
                "client_cpu_ms": _median([r.client_cpu_ms for r in runs]),
                "machine_busy": _median([r.busy for r in runs]),
                "status": status}
    return out


FLOOR = "floor"


def ratio(s: dict[str, dict], side: str = "ours", to: str = "HAPI"
          ) -> tuple[float, float, float] | None:
    """``side`` ÷ ``to`` (ours ÷ HAPI by default): (median of the per-round ratios, lowest,
    highest), paired round by round."""
    if side not in s or to not in s:
        return None
    pairs = [a / b for a, b in zip(s[side]["rates"], s[to]["rates"]) if b > 0]
    return (_median(pairs), min(pairs), max(pairs)) if pairs else None


def of_floor(s: dict[str, dict]) -> dict[str, tuple[float, float, float]]:
    """Each side's throughput ÷ the floor's, by side (none without a floor)."""
    return {side: r for side in s if side != FLOOR and (r := ratio(s, side, FLOOR))}


def _roles(d: dict) -> str:
    parts = sorted(d["cpu_ms_by_role"].items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v:.1f}" for k, v in parts if v >= 0.05)


def table(summ: dict[str, dict[str, dict]], about: dict) -> Table:
    t = Table(title=f"FHIR: ours (one /fhir base) vs HAPI FHIR JPA 8.8 (and the floor) — "
                    f"{about['clients']} "
                    f"clients ({about.get('client', 'httpx')}), "
                    f"medians of {about['rounds']} rounds of {about['seconds']:.0f} s"
                    + ("" if about.get("access log", "on") == "on"
                       else f" — access log {about['access log']}"),
              show_lines=True)
    for col, j in (("phase", "left"), ("side", "left"), ("req/s", "right"),
                   ("p50 ms", "right"), ("p99 ms", "right"), ("CPU ms/req", "right"),
                   ("req/s ours ÷ HAPI", "right"), ("CPU ours ÷ HAPI", "right"),
                   ("req/s ÷ floor", "right"),
                   ("machine busy; client CPU ms/req", "right"),
                   ("CPU ms/req by process", "left")):
        t.add_column(col, justify=j)
    for phase, sides in summ.items():
        r, floored = ratio(sides), of_floor(sides)
        c = (sides["ours"]["cpu_ms"] / sides["HAPI"]["cpu_ms"]
             if "HAPI" in sides and "ours" in sides and sides["HAPI"]["cpu_ms"] > 0 else None)
        for side, d in sides.items():
            bad = {k: v for k, v in d["status"].items() if not k.startswith("2")}
            t.add_row(phase, side, f"{d['rate']:,.1f}", f"{d['p50_ms']:.1f}",
                      f"{d['p99_ms']:.1f}", f"{d['cpu_ms']:.2f}",
                      (f"{r[0]:.2f} [{r[1]:.2f}–{r[2]:.2f}]" if r and side == "ours" else ""),
                      (f"{c:.2f}" if c is not None and side == "ours" else ""),
                      (f"{f[0]:.2f} [{f[1]:.2f}–{f[2]:.2f}]" if (f := floored.get(side))
                       else ""),
                      f"{d['machine_busy']:.0%}; {d['client_cpu_ms']:.2f}",
                      _roles(d) + (f"; errors {bad}" if bad else ""))
    return t


def write(out_dir: Path, stamp: str, results: list[PhaseResult], about: dict) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    summ = summary(results)
    doc = {"about": about, "summary": summ,
           "ratio_ours_over_hapi": {p: ratio(s) for p, s in summ.items()},
           "ratio_over_floor": {p: of_floor(s) for p, s in summ.items()},
           "cpu_ratio_ours_over_hapi": {
               p: s["ours"]["cpu_ms"] / s["HAPI"]["cpu_ms"] for p, s in summ.items()
               if "ours" in s and "HAPI" in s and s["HAPI"]["cpu_ms"] > 0},
           "phases": [r.as_json() for r in results]}
    path = out_dir / f"fhir-{stamp}.json"
    path.write_text(json.dumps(doc, indent=1, default=str))
    return path
