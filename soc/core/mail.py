"""The one SMTP path of the product: compose an e-mail and hand it to the relay.

Plain SMTP, STARTTLS (`smtp_starttls`) or SMTPS (`smtp_ssl`), AUTH when `smtp_username` is
set, every network step bounded by `smtp_timeout_seconds`. The relay's certificate is
checked against the system CAs or `smtp_ca_file`. A refusal is a `Failure`; `permanent`
when the relay said 5xx (retrying the same message cannot help).
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime

from soc.core.db import utcnow
from soc.core.settings import Settings


class Failure(Exception):
    """A failed attempt; `permanent` when retrying cannot help (the row is dead at once)."""

    def __init__(self, reason: str, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.permanent = reason[:2000], permanent


def one_line(text: str) -> str:
    """No line breaks in a header (a name or title may carry them)."""
    return " ".join(text.split())


def compose(
    settings: Settings,
    to: str,
    subject: str,
    body: str,
    message_id: str,
    language: str | None = None,
) -> EmailMessage:
    """A plain-text, auto-generated e-mail. `message_id` is stable for one notification, so
    a receiver sees a resend as the same message."""
    message = EmailMessage()
    message["Subject"] = one_line(subject)
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Date"] = format_datetime(utcnow())
    domain = settings.smtp_from.rpartition("@")[2] or "localhost"
    message["Message-ID"] = f"<{message_id}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body)
    if language:  # after set_content, which drops every Content-* header
        message["Content-Language"] = language
    return message


def tls_context(settings: Settings) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=settings.smtp_ca_file)


class Mailer:
    """One SMTP connection per delivery run, opened on first use, reopened after an error."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, message: EmailMessage) -> None:
        try:
            if self.smtp is None:
                self.smtp = self._connect()
            self.smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            self.close()
            codes = [code for code, _ in exc.recipients.values()]
            reason = f"SMTP refused the recipient: {exc.recipients}"
            raise Failure(reason, bool(codes) and min(codes) >= 500) from exc
        except smtplib.SMTPResponseException as exc:
            self.close()
            reason = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
            # An AUTH refusal is the relay's configuration, not this message: keep retrying.
            auth = isinstance(exc, smtplib.SMTPAuthenticationError)
            permanent = exc.smtp_code >= 500 and not auth
            raise Failure(reason, permanent) from exc
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise Failure(f"SMTP: {type(exc).__name__}: {exc}") from exc

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if not s.smtp_host:
            raise Failure("no SMTP relay configured (smtp_host)")
        timeout = s.smtp_timeout_seconds
        smtp: smtplib.SMTP
        if s.smtp_ssl:
            smtp = smtplib.SMTP_SSL(
                s.smtp_host, s.smtp_port, timeout=timeout, context=tls_context(s)
            )
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=timeout)
        try:
            if s.smtp_starttls and not s.smtp_ssl:
                smtp.starttls(context=tls_context(s))
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def close(self) -> None:
        if self.smtp is None:
            return
        try:
            self.smtp.quit()
        except (OSError, smtplib.SMTPException):
            self.smtp.close()
        self.smtp = None
