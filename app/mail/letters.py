"""What each e-mail says, in Swedish and English, as plain text and HTML.

A letter is made from its template's words and the facts of one message (names, times
already written in the provider's clock, a link); nothing here reads a database or sends.
"""

import html
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate


@dataclass(frozen=True)
class Words:
    subject: str
    paragraphs: tuple[str, ...]
    link_label: str = ""


_SV: dict[str, Words] = {
    "verify_email": Words(
        "Bekräfta din e-postadress",
        (
            "Välkommen till equinet! Bekräfta att {email} är din adress, så kan du boka besök.",
            "Länken gäller i {valid_hours} timmar.",
        ),
        "Bekräfta adressen",
    ),
    "password_reset": Words(
        "Välj ett nytt lösenord",
        (
            "Någon bad om ett nytt lösenord för {email}. Var det du, välj ett nytt här.",
            "Länken gäller i {valid_minutes} minuter och kan användas en gång. Bad du inte om"
            " det kan du strunta i det här brevet: ditt lösenord är oförändrat.",
        ),
        "Välj nytt lösenord",
    ),
    "booking_requested": Words(
        "Ny bokning: {horse_name} {start}",
        ("{horse_name} är bokad hos {business_name} {start}-{end_time}.",),
    ),
    "booking_confirmed": Words(
        "Bokningen är bekräftad: {start}",
        ("{business_name} har bekräftat besöket för {horse_name} {start}-{end_time}.",),
    ),
    "booking_cancelled": Words(
        "Bokningen är avbokad: {start}",
        ("Besöket för {horse_name} hos {business_name} {start}-{end_time} är avbokat.",),
    ),
    "route_planned": Words(
        "{business_name} kommer {eta}",
        ("{business_name} har planerat in ditt besök och beräknas komma {eta}.",),
    ),
    "route_eta_moved": Words(
        "Ny tid: {business_name} kommer {eta}",
        ("Rutten har ändrats: {business_name} beräknas nu komma {eta}.",),
    ),
    "route_unplanned": Words(
        "Besöket är inte längre inplanerat",
        ("Din beställning {route_order_id} togs bort ur en rutt och väntar på ett nytt besök.",),
    ),
    "route_order_cancelled": Words(
        "En beställning i din rutt är avbokad",
        ("Kunden har avbokat beställning {route_order_id} i rutt {route_id}.",),
    ),
}

_EN: dict[str, Words] = {
    "verify_email": Words(
        "Confirm your e-mail address",
        (
            "Welcome to equinet! Confirm that {email} is your address, and you can book visits.",
            "The link works for {valid_hours} hours.",
        ),
        "Confirm the address",
    ),
    "password_reset": Words(
        "Choose a new password",
        (
            "Someone asked for a new password for {email}. If it was you, choose one here.",
            "The link works for {valid_minutes} minutes, once. If you did not ask, ignore this"
            " mail: your password is unchanged.",
        ),
        "Choose a new password",
    ),
    "booking_requested": Words(
        "New booking: {horse_name} {start}",
        ("{horse_name} is booked with {business_name} {start}-{end_time}.",),
    ),
    "booking_confirmed": Words(
        "Booking confirmed: {start}",
        ("{business_name} confirmed the visit for {horse_name} {start}-{end_time}.",),
    ),
    "booking_cancelled": Words(
        "Booking cancelled: {start}",
        ("The visit for {horse_name} with {business_name} {start}-{end_time} is cancelled.",),
    ),
    "route_planned": Words(
        "{business_name} arrives {eta}",
        ("{business_name} planned your visit and expects to arrive {eta}.",),
    ),
    "route_eta_moved": Words(
        "New time: {business_name} arrives {eta}",
        ("The route changed: {business_name} now expects to arrive {eta}.",),
    ),
    "route_unplanned": Words(
        "Your visit is no longer planned",
        ("Your order {route_order_id} left a route and waits for a new visit.",),
    ),
    "route_order_cancelled": Words(
        "An order on your route was cancelled",
        ("The customer cancelled order {route_order_id} on route {route_id}.",),
    ),
}

WORDS = {"sv": _SV, "en": _EN}
TEMPLATES = frozenset(_SV)
_SIGNATURE = {"sv": "Hälsningar,\nequinet", "en": "Regards,\nequinet"}


@dataclass(frozen=True)
class Letter:
    to: str
    language: str
    template: str
    facts: Mapping[str, object]
    link: str | None = None

    def _words(self) -> Words:
        return WORDS[self.language][self.template]

    def subject(self) -> str:
        return self._words().subject.format_map(self.facts)

    def text(self) -> str:
        words = self._words()
        parts = [paragraph.format_map(self.facts) for paragraph in words.paragraphs]
        if self.link:
            parts.insert(1, f"{words.link_label}: {self.link}")
        return "\n\n".join([*parts, _SIGNATURE[self.language]]) + "\n"

    def html(self) -> str:
        words = self._words()
        parts = [f"<p>{html.escape(p.format_map(self.facts))}</p>" for p in words.paragraphs]
        if self.link:
            link = html.escape(self.link, quote=True)
            parts.insert(1, f'<p><a href="{link}">{html.escape(words.link_label)}</a></p>')
        signature = html.escape(_SIGNATURE[self.language]).replace("\n", "<br>")
        body = "\n".join([*parts, f"<p>{signature}</p>"])
        return f'<!doctype html>\n<html lang="{self.language}"><body>\n{body}\n</body></html>\n'

    def message(self, sender: str, message_id: str) -> EmailMessage:
        """The letter as a multipart/alternative message. Its Message-ID is the caller's,
        made from the outbox row, so the same letter sent twice is one to a receiver that
        checks."""
        message = EmailMessage()
        message["From"] = sender
        message["To"] = self.to
        message["Subject"] = self.subject()
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = message_id
        message.set_content(self.text())
        message.add_alternative(self.html(), subtype="html")
        message["Content-Language"] = self.language  # after the parts: they move Content-*
        return message
