"""API error texts in the caller's language (`Accept-Language`), through the gettext catalogue.

Errors keep their stable `error` code; the `detail` a DomainError carries is its English text,
which is also its message id. The fixed texts raised across the domains are marked here (the
raise sites say them in English) so that the catalogue keeps their Dutch; a few texts with a
name or number in them are matched by the templates of `TEMPLATES`. An error raised as a
template with its values (`Invalid(N_("case {id} ..."), id=7)`) is translated exactly by
`domain_text`, with no matching: every raise site takes that form (tests/api/
test_error_templates.py fails on a DomainError built from a string or f-string). Text relayed
from another exception (`Invalid(str(exc))`) stays English unless it is marked here.
"""

from __future__ import annotations

import re
from functools import cache

from soc.core.errors import DomainError
from soc.core.i18n import DEFAULT_LANG, LANGUAGES, N_, Lang, gettext

# The framework's own answers (Starlette's detail is the HTTP phrase).
HTTP_TEXTS = (
    N_("Bad Request"),
    N_("Unauthorized"),
    N_("Forbidden"),
    N_("Not Found"),
    N_("Method Not Allowed"),
    N_("Not Acceptable"),
    N_("Conflict"),
    N_("Request Entity Too Large"),
    N_("Content Too Large"),
    N_("Unsupported Media Type"),
    N_("Unprocessable Entity"),
    N_("Unprocessable Content"),
    N_("Too Many Requests"),
    N_("Internal Server Error"),
    N_("Service Unavailable"),
)

# Pydantic's fixed validation messages (the field path in front stays as it is).
VALIDATION_TEXTS = (
    N_("Field required"),
    N_("Input should be a valid integer"),
    N_("Input should be a valid integer, unable to parse string as an integer"),
    N_("Input should be a valid string"),
    N_("Input should be a valid boolean"),
    N_("Input should be a valid boolean, unable to interpret input"),
    N_("Input should be a valid number"),
    N_("Input should be a valid number, unable to parse string as a number"),
    N_("Input should be a valid dictionary"),
    N_("Input should be a valid list"),
    N_("Input should be a valid date"),
    N_("Input should be a valid datetime"),
    N_("Input should be a valid UUID"),
    N_("Extra inputs are not permitted"),
    N_("JSON decode error"),
)

# Overload answers (soc.app) and the defaults of soc.core.errors.
SERVER_TEXTS = (
    N_("the server's disk is full; retry later"),
    N_("the database is busy; retry shortly"),
    N_("the database is unavailable; retry shortly"),
    N_("bad request"),
    N_("not logged in"),
    N_("not allowed for this role"),
    N_("conflict with the current state"),
    N_("invalid input"),
    N_("busy; try again shortly"),
)

# Fixed texts of DomainErrors raised across the domains.
DOMAIN_TEXTS = (
    N_("'always_on' must be true or false"),
    N_("'attributes' must be an object"),
    N_("'min_healthy' applies to clusters only"),
    N_("'min_healthy' must be a whole number from 1"),
    N_("'name' cannot be null"),
    N_("'quality' cannot be null"),
    N_("TOTP code does not match; start enrolment again if needed"),
    N_("TOTP is already enrolled for this user"),
    N_("a case cannot be merged into itself"),
    N_("a ceiling must be a positive amount"),
    N_("a closed risk reopens to 'identified' first"),
    N_("a comment is at most 20,000 characters"),
    N_("a comment needs text"),
    N_("a common item names no tenant"),
    N_("a common risk concerns the whole ecosystem: name no tenants"),
    N_("a condition needs a field name"),
    N_("a correction needs a reason"),
    N_("a customer co-approves only risks of its own tenant"),
    N_("a customer report names a tenant, not a provider"),
    N_("a decision needs a justification"),
    N_("a maintenance window ends after it starts"),
    N_("a maintenance window lasts at most 31 days"),
    N_("a mitigation names its risk (risk_id)"),
    N_("a notice needs a title"),
    N_("a proposal is executed once the customer (or authority) agreed"),
    N_("a provider KRI names no tenant"),
    N_("a provider changes only the risks it owns or is named on"),
    N_("a provider report names a provider, not a tenant"),
    N_("a provider submits its own values only"),
    N_("a provider's user registers non-conformities of its own provider"),
    N_("a provider's users edit only that provider's CIs"),
    N_("a provider's users register risks owned by their own provider"),
    N_("a report's period lies between 2000-01 and 2099-12"),
    N_("a revocation needs a reason"),
    N_("a risk is accepted as assessed: assess it first (status 'assessed')"),
    N_("a risk owner changes only the risks they own"),
    N_("a root cause needs a description"),
    N_("a root-cause note needs text"),
    N_("a specific item names its tenant"),
    N_("a specific risk names one or more tenants"),
    N_("a specific risk's mitigation is for one of the risk's tenants"),
    N_("a tenant rule needs an id"),
    N_("a tenant's users register risks of their own tenant only"),
    N_("a user is scoped to one tenant, one provider, or all; not both"),
    N_("alignment needs the advice for the customer"),
    N_("an acceptance needs an expiry date (expires_on)"),
    N_("an end-to-end KRI names no tenant"),
    N_("an end-to-end report has no tenant or provider"),
    N_("an escalation needs a reason"),
    N_("an exception needs a reason"),
    N_("an exception needs at least one condition"),
    N_("an external id must be a string of 1 to 200 characters"),
    N_("an external id's source must be a string of 1 to 64 characters"),
    N_("an override needs a reason"),
    N_("assess the residual likelihood and impact first"),
    N_("bad signature"),
    N_("cases of different tenants cannot be merged"),
    N_("choose a file to upload"),
    N_("choose a treatment first (mitigate, transfer, avoid or accept)"),
    N_("computing KRIs acts across tenants: only unscoped users may do it"),
    N_("correlation rules cannot be tenant rules yet (ship them in a rule dir)"),
    N_("decide with approve or reject"),
    N_("each condition is an object {field, modifier, value}"),
    N_("expires_at is in the past"),
    N_("expires_at needs a timezone (UTC)"),
    N_("export file not found"),
    N_("format is csv or xlsx"),
    N_("give a rule id or the rule's YAML"),
    N_("give an assignee, a provider, or both"),
    N_("give an e-mail address, a webhook URL, or both"),
    N_("give an impact, an urgency, or both"),
    N_("give times with a timezone, e.g. 2026-01-31T12:00:00Z"),
    N_("going back (or reopening) needs a note"),
    N_("handled_on goes with status handled"),
    N_("handled_on is before the item was created"),
    N_("handled_on is in the future"),
    N_("invalid or expired session token"),
    N_("leave at least one alert in the original case"),
    N_("log in first: POST /api/v1/auth/login, then send 'Authorization: Bearer <token>'"),
    N_("month is 'YYYY-MM'"),
    N_("name a tenant or a provider, not both"),
    N_("name at least one case to merge"),
    N_("name the incident or at least one application"),
    N_("name the rule, level, status, tag or product"),
    N_("name the tenant: ?tenant=<slug>"),
    N_("name the tenant: this principal acts for no single tenant"),
    N_("no KRIs for this principal"),
    N_("no price table: set SOC_BILLING_PRICES or SOC_BILLING_PRICES_FILE"),
    N_("not found"),
    N_("only a mitigation names a risk"),
    N_("only a signed-in user can subscribe"),
    N_("only corrective actions and improvement proposals name an NC"),
    N_("only providers and the integrator submit KRI values"),
    N_("only the authority accepts risks"),
    N_("only the authority accepts this risk"),
    N_("only the authority revokes an acceptance"),
    N_("only the integrator or the authority sets outside_ecosystem"),
    N_("progress is a percentage 0..100"),
    N_("publishing a notice acts across tenants: only the service desk may"),
    N_("relations between CIs of different providers are the integrator's"),
    N_("replayed request: this nonce was already used"),
    N_("retention_days must be between 1 and 365 (the contract keeps logs at most a year)"),
    N_("say why these cases are false positives"),
    N_("select at least one case"),
    N_("select at least two cases to merge (or one besides the target)"),
    N_("send the form as multipart/form-data"),
    N_(
        "send the tenant's ingest key as 'X-API-Key: <key>' or 'Authorization: Bearer <key>' (Elasticsearch clients: 'ApiKey base64(id:key)' or basic auth with the key as password)"  # noqa: E501
    ),
    N_("status changes must be sorted by time"),
    N_("strategic risks are steered by the authority"),
    N_("the CMDB map is the integrator's"),
    N_("the ITSM webhook is not configured (SOC_ITSM_INBOUND_SECRET)"),
    N_("the action's due date changed since the request"),
    N_("the amount is a non-zero sum in euros with at most two decimals"),
    N_("the authority decides the deadline of a common item"),
    N_("the catalogue is shared by every tenant: only unscoped users edit it"),
    N_("the customer decides the deadline of a specific item"),
    N_("the due date changes through a deadline change (approved)"),
    N_("the end-to-end report spans every tenant: only unscoped users"),
    N_("the feed spans every tenant: only unscoped users"),
    N_("the file is empty"),
    N_("the file is empty: the first row names the columns"),
    N_("the file is not UTF-8 text"),
    N_("the full list of notices is for the service desk and the authority"),
    N_("the import's source must be 1 to 64 characters"),
    N_("the item's tenant is not the non-conformity's"),
    N_("the job queue is unreachable; try again shortly"),
    N_("the missing-input check covers every provider: unscoped users only"),
    N_("the multipart body has no file field named 'file'"),
    N_("the new due date is the current one"),
    N_("the owner must be a user of one of the risk's tenants (or unscoped)"),
    N_("the period ends before it starts"),
    N_("the report has no blocks"),
    N_("the report has no period"),
    N_("the request body is empty"),
    N_("the requester of an acceptance may not decide it"),
    N_("the risk changed since the request: request the acceptance again"),
    N_("the tenant's field and the Sigma field are the same"),
    N_("the title is empty"),
    N_("the webhook URL must be http(s)://host/... (at most 1000 characters)"),
    N_("the workbook has no sheet"),
    N_("this API key has been revoked"),
    N_("this action needs a logged-in user"),
    N_("timestamp must be Unix seconds"),
    N_("timestamp too old or in the future"),
    N_("unknown API key"),
    N_("user not found"),
    N_("weight is never negative"),
    N_("who requested a deadline change does not decide it"),
    N_("window_end is before window_start"),
    N_("too many logins at once; try again shortly"),
    N_("a portal user needs a username"),
    N_("a tenant needs a name"),
    N_("at most 50 saved views: delete one first"),
    N_("give the view a name"),
    N_("only signed-in users save views"),
    N_("rule choices were given but no rule set is at hand"),
    N_("the ingest key needs a name"),
    N_("the portal usernames must differ from each other"),
    N_("you cannot disable your own account"),
)

# Texts of a ValueError from a shared check (kri.schemas), relayed as Invalid(str(exc)).
RELAYED_TEXTS = (
    N_("higher_better needs green >= amber"),
    N_("lower_better needs green <= amber"),
)

# Texts with a value in them: the template's `{name}` matches any text.
TEMPLATES = (
    N_("tenant {name} not found"),
    N_("provider {name} not found"),
    N_("rule {name} not found"),
    N_("tenant rule {name} not found"),
    N_("case {name} not found"),
    N_("user {name} not found"),
    N_("KRI {name} not found"),
    N_("report {name} not found"),
    N_("relation {name} not found"),
    N_("job {name} not found"),
    N_("evidence {name} not found"),
    N_("subscription {name} not found"),
    N_("follow-up {name} not found"),
    N_("no CI {name}"),
    N_("no application {name}"),
    N_("too many failed logins; try again in {seconds} s"),
    N_("evidence is at most {bytes} bytes"),
    N_("password must have at least {count} characters"),
    N_("event {name} not found"),
    N_("tenant {name} already exists"),
    N_("provider {name} already exists"),
    N_("user {name} already exists"),
    N_("role {role} may not do {permission}"),
    N_("{permission} acts across tenants: only unscoped users may do it"),
    # Relayed from kri.rules.parse_period's ValueError as Invalid(str(exc)).
    N_("a period is 'YYYY-MM', got {name}"),
)
_FIELD = re.compile(r"\\\{(\w+)\\\}")


@cache
def _pattern(template: str) -> re.Pattern[str]:
    return re.compile(_FIELD.sub(r"(?P<\1>.+?)", re.escape(template)))


def accepted_language(header: str | None) -> Lang:
    """The caller's language from `Accept-Language` (`nl-BE,nl;q=0.9,en;q=0.8`): the
    supported one with the highest weight, English when none is."""
    weighted: list[tuple[float, int, Lang]] = []
    for position, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        weight = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        for lang in LANGUAGES:
            if primary == lang and weight > 0:
                weighted.append((-weight, position, lang))
    return min(weighted)[2] if weighted else DEFAULT_LANG


def error_text(lang: str, message: str) -> str:
    """`message` (an error's English text) in `lang`: its Dutch from the catalogue, a
    template's with the value put back, or the English as it is."""
    if lang == DEFAULT_LANG or not message:
        return message
    translated = gettext(lang, message)
    if translated != message:
        return translated
    for template in TEMPLATES:
        found = _pattern(template).fullmatch(message)
        if found:
            return gettext(lang, template).format(**found.groupdict())
    return message


def domain_text(lang: str, exc: DomainError) -> str:
    """A domain error's text in `lang`: its template translated with its values put back when
    it was raised with values, else as `error_text` finds it."""
    if lang == DEFAULT_LANG or not exc.params:
        return error_text(lang, exc.message)
    translated = gettext(lang, exc.template)
    if translated == exc.template:
        return exc.message
    try:
        return translated.format(**exc.params)
    except (KeyError, IndexError, ValueError):  # a translation that lost a field: stay English
        return exc.message


def validation_text(lang: str, message: str) -> str:
    """A pydantic message in `lang`: fixed ones translated, the rest left as they are."""
    return message if lang == DEFAULT_LANG else gettext(lang, message)
