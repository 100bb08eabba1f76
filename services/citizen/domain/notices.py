"""What a notification says (pure). It never names a diagnosis, an entry or a national id:
only that something happened and where to read more."""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("restricted_opened", "emergency_access", "consent_expiring", "new_message")


@dataclass(frozen=True)
class Notice:
    subject: str
    body: str


def notice(kind: str, portal_url: str) -> Notice:
    where = f"{portal_url.rstrip('/')}/looked"
    if kind == "restricted_opened":
        return Notice("En sperret opplysning i journalen din er åpnet",
                      "Helsepersonell har åpnet en opplysning du har sperret, og har oppgitt "
                      f"grunnlag og begrunnelse. Logg inn for å se hvem: {where}\n\n"
                      "Someone opened an entry you have locked. Sign in to see who: " + where)
    if kind == "emergency_access":
        return Notice("Akuttilgang til journalen din",
                      "Helsepersonell har fått akuttilgang til journalen din. Logg inn for å "
                      f"se hvem og hvorfor: {where}\n\nSomeone was given emergency access to "
                      "your record. Sign in to see who and why: " + where)
    if kind == "consent_expiring":
        choices = f"{portal_url.rstrip('/')}/choices"
        return Notice("Et samtykke du har gitt, utløper snart",
                      "Et samtykke du har gitt, utløper snart. Logg inn for å se det og gi et "
                      f"nytt om du vil: {choices}\n\nA consent you gave ends soon. Sign in "
                      "to see it and give a new one if you want: " + choices)
    if kind == "new_message":
        messages = f"{portal_url.rstrip('/')}/messages"
        return Notice("Ny melding fra behandleren din",
                      "Du har fått svar på en melding til behandleren din. Logg inn for å lese "
                      f"det: {messages}\n\nYour care team has replied to your message. Sign in "
                      "to read it: " + messages)
    raise ValueError(f"unknown notification kind {kind!r}")
