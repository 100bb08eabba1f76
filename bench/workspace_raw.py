"""The baseline of ``bench/workspace.py``: the workspace's two screens as a bare FastAPI page,
from the same read-model rows the journal and the medication service answer the workspace
from (``journal_tasks``, ``journal_records``, ``journal_observations`` in the journal's schema,
``medication_lists`` in the medication service's), rendered as plain HTML tables: no session,
token, access decision, access log, template engine, stylesheet or script."""

from __future__ import annotations

import html
import json
from typing import Any
from uuid import UUID

from bench.util import pooled_app


def _cells(values: list[Any]) -> str:
    return "".join(f"<td>{html.escape(v if isinstance(v, str) else json.dumps(v))}</td>"
                   for v in values)


def _table(rows: list[list[Any]]) -> str:
    return "<table>" + "".join(f"<tr>{_cells(r)}</tr>" for r in rows) + "</table>"


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="nb"><head><meta charset="utf-8"><meta name="viewport"'
            f' content="width=device-width"><title>{title}</title></head><body><main>'
            f"<h1>{title}</h1>{body}</main></body></html>")


def raw_app(url: str, journal_schema: str, medication_schema: str):
    """The bare pages: ``/raw/worklist/{unit}`` and ``/raw/patients/{patient_id}``."""
    from fastapi.responses import HTMLResponse

    # one pool reading both services' schemas (their read models' names do not overlap)
    app, state = pooled_app(url, f"{journal_schema},{medication_schema}")

    @app.get("/raw/worklist/{unit}")
    async def worklist(unit: str) -> HTMLResponse:
        rows = await state["pool"].fetch("""
            SELECT t.due_at, t.doc->>'title', r.doc->'name', r.doc->'address'
              FROM journal_tasks t LEFT JOIN journal_records r USING (patient_id)
             WHERE t.unit = $1 AND t.status = 'requested' ORDER BY t.due_at, t.task_id""", unit)
        body = _table([[r[0].isoformat(), r[1] or "", json.loads(r[2] or "null"),
                        json.loads(r[3] or "null")] for r in rows])
        return HTMLResponse(_page("Dagens arbeidsliste", body))

    @app.get("/raw/patients/{patient_id}")
    async def patient(patient_id: UUID) -> HTMLResponse:
        pool = state["pool"]
        record = await pool.fetchval(
            "SELECT doc::text FROM journal_records WHERE patient_id = $1", patient_id)
        doc = json.loads(record or "{}")
        vitals = await pool.fetch("""
            SELECT code, effective_at, doc->'value' FROM journal_observations
             WHERE patient_id = $1 AND status <> 'entered_in_error'
             ORDER BY effective_at DESC LIMIT 100""", patient_id)
        medication = await pool.fetchval(
            "SELECT current FROM medication_lists WHERE patient_id = $1", patient_id)
        entries = json.loads(medication or "{}").get("entries", [])
        body = "".join((
            "<h2>CAVE</h2>", _table([[c.get("substance"), c.get("reaction"), c.get("severity")]
                                     for c in doc.get("critical_info", [])]),
            "<h2>Legemidler</h2>", _table([[e.get("drug") or e.get("product_id"),
                                           e.get("dose"), e.get("status")] for e in entries]),
            "<h2>Vitale tegn</h2>", _table([[r[0], r[1].isoformat(), json.loads(r[2] or "null")]
                                            for r in vitals]),
            "<h2>Oppgaver</h2>", _table([[t.get("title"), t.get("due_at"), t.get("status")]
                                         for t in doc.get("tasks", [])]),
            "<h2>Pleieplan</h2>", _table([[p.get("title"), p.get("goals")]
                                          for p in doc.get("care_plans", [])]),
            "<h2>Notater</h2>", _table([[n.get("kind"), n.get("text"), n.get("status")]
                                        for n in doc.get("notes", [])[-10:]])))
        return HTMLResponse(_page("Pasienten", body))

    return app
