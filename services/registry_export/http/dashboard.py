"""The analysts' dashboard: users of the care services over the year and by service group,
in bokmål or English (``?lang=en``), server-rendered HTML with SVG charts and the numbers
behind them in tables. No script and nothing loaded from elsewhere.

The page is ``templates/dashboard.html``. It shows only published numbers
(``trends.py``: suppressed or rounded exactly like the published tables, which the catalogue
marks PUBLIC), so it needs no sign-in and is no download: the tables and files behind it stay
behind the Maskinporten-shaped tokens of ``routes.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from libs.kernel.errors import Invalid
from libs.kernel.time import local_day
from libs.web.routing import PathRouter
from services.registry_export.domain.codes import GROUPS
from services.registry_export.http.charts import bars, columns
from services.registry_export.trends import Trends, trends

router = PathRouter(tags=["dashboard"])
MONTHS = {"nb": ["januar", "februar", "mars", "april", "mai", "juni", "juli", "august",
                 "september", "oktober", "november", "desember"],
          "en": ["January", "February", "March", "April", "May", "June", "July", "August",
                 "September", "October", "November", "December"]}
TEXT = {
    "nb": {"title": "Brukere av omsorgstjenester", "other": "English", "other_lang": "en",
           "lede": "Publiserte tall for kommune {m}, {y}.", "year": "År",
           "municipality": "Kommune", "show": "Vis", "none": "Ingen tall ennå.",
           "suppressed": "prikket", "most": "maks.",
           "protect_suppress": "Tall under {n}, og tall som kan avsløre dem, er prikket («.»). "
                               "En person telles én gang per tjenestegruppe, så gruppene kan "
                               "ikke legges sammen.",
           "protect_round": "Alle tall er tilfeldig avrundet til et multiplum av {b}. En "
                            "person telles én gang per tjenestegruppe, så gruppene kan ikke "
                            "legges sammen.",
           "protect_controlled": "Alle tall er avrundet til et multiplum av {b}, hvert mindre "
                                 "enn {b} fra det sanne tallet, ved kontrollert avrunding: i de "
                                 "publiserte tabellene er summene lik summen av de avrundede "
                                 "delene. En person telles én gang per tjenestegruppe, så "
                                 "gruppene kan ikke legges sammen.",
           "by_group": "Brukere i løpet av året, etter tjenestegruppe",
           "by_month": "Brukere ved utgangen av hver måned",
           "no_months": "Ingen måned i {y} er over ennå.",
           "group": "Tjenestegruppe", "users": "Brukere", "month": "Måned",
           "table_months": "Brukere ved månedsslutt, etter tjenestegruppe"},
    "en": {"title": "Care service users", "other": "Norsk (bokmål)", "other_lang": "nb",
           "lede": "Published numbers for municipality {m}, {y}.", "year": "Year",
           "municipality": "Municipality", "show": "Show", "none": "No numbers yet.",
           "suppressed": "suppressed", "most": "max.",
           "protect_suppress": "Numbers under {n}, and numbers that would reveal them, are "
                               "suppressed (“.”). A person counts once per service group, so "
                               "the groups do not add up.",
           "protect_round": "Every number is randomly rounded to a multiple of {b}. A person "
                            "counts once per service group, so the groups do not add up.",
           "protect_controlled": "Every number is rounded to a multiple of {b}, each less than "
                                 "{b} from the true count, by controlled rounding: in the "
                                 "published tables the totals are the sums of their rounded "
                                 "parts. A person counts once per service group, so the groups "
                                 "do not add up.",
           "by_group": "Users during the year, by service group",
           "by_month": "Users at the end of each month",
           "no_months": "No month of {y} has ended yet.",
           "group": "Service group", "users": "Users", "month": "Month",
           "table_months": "Users at the end of the month, by service group"},
}
PAGE = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=select_autoescape(default=True)).get_template("dashboard.html")


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(request: Request,
                    year: Annotated[int | None, Query(ge=2000, le=2199)] = None,
                    municipality: Annotated[str | None, Query(pattern=r"^\d{4}$")] = None,
                    lang: Annotated[str, Query(pattern="^(nb|en)$")] = "nb") -> HTMLResponse:
    clock = request.app.state.clock
    today = local_day(clock() if clock else datetime.now(UTC))
    year = year or today.year
    if year > today.year:
        raise Invalid(f"the year {year} has not begun")
    people = (await request.app.state.persons.catch_up()).values()
    tr = trends(people, year=year, municipality=municipality, today=today,
                min_cell=request.app.state.min_cell, rounding=request.app.state.rounding)
    return HTMLResponse(render(tr, lang, today.year))


def render(tr: Trends, lang: str, this_year: int) -> str:
    t, names = TEXT[lang], {g: (no if lang == "nb" else en) for g, (no, en, _) in GROUPS.items()}
    gone = t["suppressed"]

    def cell(v: int | None) -> Markup:
        if v is None:
            return Markup('.<span class="vh"> ({})</span>').format(gone)
        return Markup(f"{v:,}".replace(",", "\u00a0"))

    months = MONTHS[lang]
    labels = [months[d.month - 1] for d in tr.months]
    rounded = "protect_controlled" if tr.controlled else "protect_round"
    protection = (t[rounded].format(b=tr.rounding_base) if tr.rounding_base
                  else t["protect_suppress"].format(n=tr.min_cell))
    query = f"year={tr.year}" + (f"&municipality={tr.municipality}" if tr.municipality else "")
    return PAGE.render(
        lang=lang, t=t, tr=tr, names=names, cell=cell, months=months, protection=protection,
        years=list(range(this_year, this_year - 6, -1)),
        other_url=f"dashboard?lang={t['other_lang']}&{query}",
        group_chart=Markup(bars("groups", t["by_group"],
                                [(names[g], tr.during[g]) for g in tr.groups], gone)),
        month_charts={g: Markup(columns(f"m-{g}", f"{names[g]}: {t['by_month'].lower()}",
                                        labels, tr.monthly[g], gone, t["most"]))
                      for g in tr.groups})
