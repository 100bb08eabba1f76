"""KPR service codes (tjenestekoder), the statistics' service groups and age bands.

The codes and their Norwegian names are the IPLOS service code system
(urn:oid:2.16.578.1.12.4.1.1.9151, as in the no.hl7.fhir.okt package the journal's list cites).
The grouping into service groups is the project's own, after the groups SSB publishes
(StatBank table 12003: users counted once per group); the age bands are SSB's for the care
services (0–17, 18–49, 50–66, 67–79, 80–89, 90+). VERIFY both against SSB before publishing
figures as official statistics.
"""

from __future__ import annotations

SERVICE_CODES: dict[str, str] = {
    "1": "Praktisk bistand - daglige gjøremål",
    "2": "Praktisk bistand - opplæring - daglige gjøremål",
    "3": "Praktisk bistand - brukerstyrt - personlig assistanse",
    "4": "Dagaktivitetstilbud",
    "5": "Matombringing",
    "6": "Trygghetsalarm",
    "7": "Avlastning utenfor institusjon",
    "8": "Avlastning i institusjon",
    "9": "Støttekontakt",
    "11": "Omsorgsstønad",
    "14": "Bruk av tvang psykisk utviklingshemning – planlagte tiltak",
    "15": "Helsetjenester i hjemmet",
    "17": "Dagopphold i institusjon",
    "18": "Tidsbegrenset opphold - utredning/behandling",
    "19": "Tidsbegrenset opphold - habilitering/rehabilitering",
    "20": "Tidsbegrenset opphold - annet",
    "21": "Langtidsopphold i institusjon",
    "22": "Nattopphold i institusjon",
    "23": "Bruk av tvang psykisk utviklingshemning – nødsituasjoner",
    "24": "Helsehjelp med tvang",
    "25": "Kommunal øyeblikkelig hjelp - døgnopphold",
    "26": "Lokaliseringsteknologi (GPS)",
    "27": "Elektronisk medisineringsstøtte",
    "28": "Digitalt tilsyn",
    "29": "Bolig som kommunen disponerer for helse- og omsorgsformål",
}

# KPR wants the provider's organisation number for services given by an institution or
# another provider than the municipality's own home services (the project's reading of the
# KPR guidance: institutional stays, respite in an institution, day care; VERIFY).
PROVIDER_REQUIRED = frozenset({"8", "17", "18", "19", "20", "21", "22", "25"})

GROUPS: dict[str, tuple[str, str, frozenset[str]]] = {
    # key: (bokmål, English, codes)
    "home": ("Hjemmetjenester", "Home services", frozenset({"1", "2", "3", "15"})),
    "institution": ("Opphold i institusjon", "Stays in an institution",
                    frozenset({"17", "18", "19", "20", "21", "22", "25"})),
    "respite": ("Avlastning", "Respite care", frozenset({"7", "8"})),
    "day": ("Dagaktivitetstilbud", "Day activities", frozenset({"4"})),
    "carer": ("Omsorgsstønad", "Carer's allowance", frozenset({"11"})),
    "support": ("Støttekontakt", "Support contact", frozenset({"9"})),
    "technology": ("Velferdsteknologi og trygghetsalarm", "Welfare technology and alarms",
                   frozenset({"6", "26", "27", "28"})),
    "meals": ("Matombringing", "Meals on wheels", frozenset({"5"})),
    "housing": ("Bolig til helse- og omsorgsformål", "Care housing", frozenset({"29"})),
    "coercion": ("Tvang", "Coercion", frozenset({"14", "23", "24"})),
}
# Welfare technology in use, from the welfare service's coverage (the legal basis, consent or
# a pasrl § 4-6 a decision, for using a technology with the person: ``welfare.CoverageRecorded``
# / ``CoverageEnded``). The technology is free text there; the names the welfare service and its
# simulator use map to the KPR code of the service they are (VERIFY against FHI's KPR code
# list). Digital home follow-up (DHO, home monitoring of measurements) has no KPR code of its
# own in this list: it counts in the statistics' technology group under the project's local
# code ``DHO`` and is not sent to KPR. A technology not named here is not counted.
DHO = "DHO"
WELFARE_TECHNOLOGIES: dict[str, str] = {
    "trygghetsalarm": "6",
    "lokaliseringsteknologi": "26", "gps": "26",
    "medisindispenser": "27", "elektronisk medisineringsstøtte": "27",
    "digitalt tilsyn": "28",
    "digital hjemmeoppfølging": DHO, "hjemmeoppfølging": DHO,
}
GROUP_OF: dict[str, str] = {code: g for g, (_, _, codes) in GROUPS.items() for code in codes}
GROUP_OF[DHO] = "technology"


def welfare_service_code(technology: str) -> str | None:
    """The service code of a welfare technology's coverage, or None (not counted)."""
    return WELFARE_TECHNOLOGIES.get(" ".join(technology.lower().split()))

AGE_BANDS: tuple[tuple[str, int, int], ...] = (
    ("0-17", 0, 17), ("18-49", 18, 49), ("50-66", 50, 66), ("67-79", 67, 79),
    ("80-89", 80, 89), ("90+", 90, 200),
)
SEXES: tuple[str, ...] = ("female", "male", "unknown")   # "other" counts with "unknown"


def age_band(age: int) -> str:
    for name, low, high in AGE_BANDS:
        if low <= age <= high:
            return name
    return AGE_BANDS[0][0] if age < 0 else AGE_BANDS[-1][0]


def sex_category(sex: str | None) -> str:
    return sex if sex in ("female", "male") else "unknown"
