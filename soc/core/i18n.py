"""Text for people in the reader's language: gettext catalogues (Babel) and locale formats.

English is the source language: a message id is its English text, and `soc/core/locale/nl`
holds the Dutch catalogue (`messages.po`, compiled to `messages.mo` by `scripts/i18n.sh`).
Code marks what it says with `N_` (a message kept for later translation) or `P_` (the same
with a context, for an English word that has two Dutch ones); `gettext`/`pgettext` translate.

Numbers, money and times follow the reader's locale: `€ 1.234,56` and `2 dec. 2026 14:05`
in Dutch, `€1,234.56` and `2 Dec 2026, 14:05` in English, times in Europe/Brussels.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import cache
from gettext import NullTranslations
from pathlib import Path
from typing import Literal, TypeAlias
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal
from babel.support import Translations

Lang: TypeAlias = Literal["en", "nl"]
LANGUAGES: tuple[Lang, ...] = ("en", "nl")
DEFAULT_LANG: Lang = "en"
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
BRUSSELS = ZoneInfo("Europe/Brussels")
# The Belgian variants: euro, day-month order, Brussels time.
LOCALES: dict[str, str] = {"en": "en_IE", "nl": "nl_BE"}

Message: TypeAlias = str | tuple[str, str]  # a message id, or (context, message id)


def N_(message: str) -> str:
    """Mark `message` for the catalogue; translated where it is shown."""
    return message


def P_(context: str, message: str) -> tuple[str, str]:
    """Mark `message` with a context (one English word, two Dutch ones)."""
    return (context, message)


def language(value: str | None) -> Lang:
    """A supported language from a query, cookie or profile value; English otherwise."""
    return "nl" if value == "nl" else "en"


@cache
def catalogue(lang: str) -> NullTranslations:
    """The compiled catalogue of `lang` (English: the message ids themselves)."""
    if lang == DEFAULT_LANG:
        return NullTranslations()
    found = Translations.load(str(LOCALE_DIR), [lang], DOMAIN)
    return found


def gettext(lang: str, message: str) -> str:
    return catalogue(lang).gettext(message)


def pgettext(lang: str, context: str, message: str) -> str:
    return catalogue(lang).pgettext(context, message)


def translate(lang: str, message: Message) -> str:
    """`message` as marked by `N_` or `P_`, in `lang`."""
    if isinstance(message, tuple):
        return pgettext(lang, *message)
    return gettext(lang, message)


def words(lang: str, marked: dict[str, Message]) -> dict[str, str]:
    """A table of named messages (`{"key": N_("English")}`), translated into `lang`."""
    return {key: translate(lang, message) for key, message in marked.items()}


def locale_of(lang: str) -> Locale:
    return Locale.parse(LOCALES.get(lang, LOCALES[DEFAULT_LANG]))


def money(value: Decimal | int | float | str | None, lang: str, currency: str = "EUR") -> str:
    """`€ 1.234,56` (nl) / `€1,234.56` (en); never an exponent, always two decimals."""
    if value is None:
        return ""
    return format_currency(Decimal(str(value)), currency, locale=locale_of(lang))


def number(value: Decimal | int | float | str | None, lang: str, digits: int | None = None) -> str:
    """Thousands separators and the locale's decimal sign; `digits` fixes the decimals."""
    if value is None:
        return ""
    amount = Decimal(str(value))
    if digits is not None:
        amount = amount.quantize(Decimal(1).scaleb(-digits))
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(amount, format=pattern, locale=locale_of(lang))
    return format_decimal(
        amount.normalize() if amount == amount.to_integral() else amount, locale=locale_of(lang)
    )


def when(value: datetime | None, lang: str, style: str = "medium") -> str:
    """A moment in Brussels time, in the reader's format."""
    if value is None:
        return ""
    aware = value if value.tzinfo else value.replace(tzinfo=ZoneInfo("UTC"))
    return format_datetime(
        aware.astimezone(BRUSSELS), style, tzinfo=BRUSSELS, locale=locale_of(lang)
    )


def day(value: date | datetime | None, lang: str, style: str = "medium") -> str:
    """A calendar day in the reader's format (a moment: its Brussels day)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=ZoneInfo("UTC"))
        value = aware.astimezone(BRUSSELS).date()
    return format_date(value, style, locale=locale_of(lang))


def utc_text(value: datetime | None) -> str:
    """The same moment in UTC, ISO 8601 (for a hover title or a machine)."""
    if value is None:
        return ""
    aware = value if value.tzinfo else value.replace(tzinfo=ZoneInfo("UTC"))
    return aware.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M:%S UTC")
