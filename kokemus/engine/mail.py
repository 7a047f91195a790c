"""Invitation emails: composed from the survey in the customer's language, sent over SMTP.

An email carries the signed, expiring survey link; when the survey opens with an NPS or
CES question it also carries that scale as one-click links (a click opens the form with
that point chosen; Send saves it, since link scanners fetch every link: web/forms.py), and
an opt-out link, also in the List-Unsubscribe header.
The Message-ID is made from the invitation id, so the same invitation always has the same
one (a mail system that sees it twice can tell).
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape

from kokemus.config import Settings
from kokemus.domain.surveys import Ces, Nps, Survey, scale_ends
from kokemus.domain.texts import localized
from kokemus.services.feedback import link
from kokemus.services.workspaces import ActiveWorkspace

# The words around the survey's own texts, per language the workspace may speak (the
# scales' end words are the domain's, shared with the form: domain.surveys.SCALE_ENDS).
WORDS: dict[str, dict[str, str]] = {
    "fi": {
        "hello": "Hei {name},", "hello_anon": "Hei,",
        "intro": "Haluaisimme kuulla kokemuksestasi: {touchpoint}.",
        "intro_plain": "Haluaisimme kuulla kokemuksestasi.",
        "one_click": "Vastaa valitsemalla numero:", "answer": "Vastaa kyselyyn",
        "answer_text": "Vastaa kyselyyn tästä:",
        "valid": "Linkki toimii {date} asti. Vastaaminen vie noin minuutin.",
        "opt_out": "Etkö halua enää kyselyjä meiltä?", "opt_out_link": "Peru kyselyt",
    },
    "en": {
        "hello": "Hello {name},", "hello_anon": "Hello,",
        "intro": "We would like to hear about your experience: {touchpoint}.",
        "intro_plain": "We would like to hear about your experience.",
        "one_click": "Answer by choosing a number:", "answer": "Answer the survey",
        "answer_text": "Answer the survey here:",
        "valid": "The link works until {date}. Answering takes about a minute.",
        "opt_out": "Rather not get surveys from us?", "opt_out_link": "Opt out of surveys",
    },
    "sv": {
        "hello": "Hej {name},", "hello_anon": "Hej,",
        "intro": "Vi vill gärna höra om din upplevelse: {touchpoint}.",
        "intro_plain": "Vi vill gärna höra om din upplevelse.",
        "one_click": "Svara genom att välja en siffra:", "answer": "Svara på enkäten",
        "answer_text": "Svara på enkäten här:",
        "valid": "Länken fungerar till {date}. Det tar ungefär en minut att svara.",
        "opt_out": "Vill du inte få fler enkäter från oss?", "opt_out_link": "Avstå från enkäter",
    },
}

_templates = Environment(
    loader=PackageLoader("kokemus.engine", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


class SendError(Exception):
    """A message the SMTP server did not take; `permanent` when retrying cannot help
    (the server refused the recipient for good)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class ScaleLink:
    value: int
    url: str
    note: str  # the scale's wording at its ends ("not at all likely"), else empty


def compose(settings: Settings, secret: str, workspace: ActiveWorkspace, survey: Survey,
            invitation: dict[str, Any], customer: dict[str, Any], language: str,
            now: datetime) -> EmailMessage:
    """The invitation email (text and HTML) of `invitation`, whose `expires_at` is set."""
    words = WORDS.get(language, WORDS["en"])
    base = settings.base_url
    company = localized(workspace.document.name, language)
    touchpoint = workspace.document.touchpoint(invitation.get("touchpoint") or "")
    survey_link = link(base, secret, invitation)
    opt_out_link = f"{survey_link}/opt-out"
    first = survey.questions[0]
    scale: list[ScaleLink] = []
    low_high: tuple[str, str] | None = None
    if isinstance(first, Nps | Ces):
        low, high = first.scale
        low_high = scale_ends(first.type, language) or ("", "")
        for value in range(low, high + 1):
            note = low_high[0] if value == low else low_high[1] if value == high else ""
            scale.append(ScaleLink(
                value, link(base, secret, invitation, answer=(first.id, value)), note))
    if survey.intro is not None:
        intro = localized(survey.intro, language)
    elif touchpoint is not None:
        intro = words["intro"].format(touchpoint=localized(touchpoint.name, language))
    else:
        intro = words["intro_plain"]
    name = customer.get("name")
    context = {
        "language": language, "words": words, "company": company,
        "title": localized(survey.name, language),
        "hello": words["hello"].format(name=name) if name else words["hello_anon"],
        "intro": intro, "question": survey.text_of(first, language, company) if scale else None,
        "scale": scale, "low_high": low_high, "link": survey_link, "opt_out": opt_out_link,
        "valid": words["valid"].format(date=_date(invitation["expires_at"], language,
                                                  workspace)),
    }
    message = EmailMessage()
    message["Subject"] = f"{context['title']} – {company}"
    message["From"] = settings.mail_from
    message["To"] = formataddr((name or "", customer["email"]))
    message["Date"] = format_datetime(now.astimezone(UTC))
    message["Message-ID"] = f"<{invitation['id']}@{_domain(settings)}>"
    message["List-Unsubscribe"] = f"<{opt_out_link}>"
    message["Auto-Submitted"] = "auto-generated"  # no out-of-office replies, please
    message.set_content(_templates.get_template("invitation.txt").render(context))
    message.add_alternative(_templates.get_template("invitation.html").render(context),
                            subtype="html")
    # after the content: set_content drops the Content-* headers already on the message
    message["Content-Language"] = language
    return message


def _date(moment: datetime, language: str, workspace: ActiveWorkspace) -> str:
    quiet = workspace.document.feedback.quiet_hours
    local = moment.astimezone(ZoneInfo(quiet.timezone) if quiet else UTC)
    if language == "fi":
        return f"{local.day}.{local.month}.{local.year}"
    if language == "en":
        return f"{local.day} {local:%B} {local.year}"
    return f"{local:%Y-%m-%d}"


def _domain(settings: Settings) -> str:
    address = parseaddr(settings.mail_from)[1]
    return address.rpartition("@")[2] or "kokemus.invalid"


class Mailer:
    """One SMTP connection, opened at the first message and kept for the next ones."""

    def __init__(self, settings: Settings, timeout: float = 15.0) -> None:
        self.settings = settings
        self.timeout = timeout
        self._smtp: smtplib.SMTP | None = None

    def send(self, message: Message) -> None:
        """Hand `message` to the server; SendError if it was not taken."""
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            self._smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            self.close()
            codes = [code for code, _ in exc.recipients.values()]
            raise SendError(f"recipient refused: {_first(exc.recipients)}",
                            permanent=all(code >= 500 for code in codes)) from exc
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise SendError(f"{type(exc).__name__}: {exc}".strip()) from exc

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=self.timeout)
        try:
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _first(recipients: dict[str, tuple[int, bytes]]) -> str:
    address, (code, text) = next(iter(recipients.items()))
    return f"{address} ({code} {text.decode(errors='replace')})"
