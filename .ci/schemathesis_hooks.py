"""Schemathesis hooks for .ci/schemathesis: keep schema-valid (positive) cases meaningful.

The OpenAPI document states every rule JSON Schema can express. A few rules it cannot: they
depend on a parser, on the clock or on another field. A positive case drawn from the schema
alone would break them and be refused (400), which the positive_data_acceptance check would
report although the document says so in the field's description. For positive cases only,
these hooks replace such values with valid ones drawn from the generated data, so the case
still varies; negative cases are sent as generated. Each rule:

- schedule (jobs, /api/cron/explain): a cron expression must parse and have a fire time after
  now. It becomes one of a few valid expressions.
- timezone: an IANA zone name must exist. It becomes one of a few zones.
- runAt: must not be more than 10 s in the past. It moves to a future instant.
- startAt, endAt: endAt must be later than startAt, and the schedule must fire between now
  (or startAt) and endAt. They become a window from the past to a year ahead.
- retry.initialBackoffMs: at most maxBackoffMs (each the given one, or its default). It is
  capped.
- jobId in a PUT body: must match the job in the path. It is set to the path's.
- api in a PUT body: a queue password of *** keeps the stored one, which the job may not have.
  A real password is sent instead. The same for a signingSecret of *** (or one in its array).
- version in a PUT body: must name the same version as If-Match, when both name one. It is set
  to If-Match's.
- api, alert.webhookUrl: the server's target policy (its configuration: by default link-local
  and cloud metadata, reserved and multicast addresses, also in IPv6 forms that embed an IPv4
  address) refuses some IP literals. Such a host becomes example.com.
- secretHeaders: each must name a header of headers. Names that do not are dropped.
- signingSecret: 1 to 256 bytes of UTF-8, while JSON Schema's maxLength counts characters. It
  (or each of its two) is cut to 256 bytes.
"""

import datetime
import ipaddress
import re

import schemathesis

SCHEDULES = ["0 0 * * * *", "*/5 * * * * *", "30 15 10 * * MON-FRI", "0 0 12 1 * *", "15 * * * *"]
TIMEZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]
# retry.initialBackoffMs and maxBackoffMs when a job does not give them (the server's defaults,
# as the document shows).
DEFAULT_INITIAL_BACKOFF_MS = 1_000
DEFAULT_MAX_BACKOFF_MS = 60_000
MAX_SIGNING_SECRET_BYTES = 256


def pick(options, seed):
    """One of `options`, chosen by the generated value `seed` so that cases differ."""
    return options[sum(map(ord, str(seed))) % len(options)]


def instant(delta):
    now = datetime.datetime.now(datetime.timezone.utc)
    return (now + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_number(value):
    """A JSON number (an integer, or a float such as 5.0, which JSON Schema's integer allows)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# The host of a target URL: after the scheme and any user info, up to a port, path or query.
URL_HOST = re.compile(r"^(?P<head>[a-z]+://(?:[^@/?#]*@)?)(?P<host>\[[^\]]*\]|[^:/?#]*)")
# The addresses the default target policy refuses besides link-local ones (cloud metadata).
METADATA = {
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("100.100.100.200"),
    ipaddress.ip_address("192.0.0.192"),
}
# Reserved ranges the default target policy refuses (executor's AddressClass::Reserved).
RESERVED = [
    ipaddress.ip_network(network)
    for network in ("0.0.0.0/8", "224.0.0.0/3", "192.0.0.0/24", "::/128", "ff00::/8")
]


def refused(address):
    """Whether the default target policy refuses `address` (not counting embedded forms)."""
    return (
        address.is_link_local
        or address in METADATA
        or any(address in network for network in RESERVED if network.version == address.version)
    )


def embedded_ipv4(address):
    """The IPv4 addresses an IPv6 address stands for, as the policy reads them: IPv4-mapped,
    IPv4-compatible (not :: and ::1), NAT64 and 6to4."""
    found = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    value = int(address)
    if value >> 32 == 0 and value > 1:
        found.append(ipaddress.IPv4Address(value & 0xFFFFFFFF))
    if address in ipaddress.ip_network("64:ff9b::/96"):
        found.append(ipaddress.IPv4Address(value & 0xFFFFFFFF))
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    return found


def fix_target(url):
    """`url` with a host the default target policy refuses replaced by example.com."""
    match = URL_HOST.match(url)
    if match is None:
        return url
    try:
        address = ipaddress.ip_address(match["host"].strip("[]"))
    except ValueError:
        return url
    embedded = embedded_ipv4(address) if address.version == 6 else []
    if any(refused(a) for a in [address, *embedded]):
        return match["head"] + "example.com" + url[match.end():]
    return url


def fix_job(job):
    """A positive job definition, made to follow the rules the schema cannot state."""
    if not isinstance(job, dict):
        return job
    if isinstance(job.get("schedule"), str):
        job["schedule"] = pick(SCHEDULES, job["schedule"])
    if isinstance(job.get("api"), str):
        job["api"] = fix_target(job["api"])
    alert = job.get("alert")
    if isinstance(alert, dict) and isinstance(alert.get("webhookUrl"), str):
        alert["webhookUrl"] = fix_target(alert["webhookUrl"])
    if isinstance(job.get("timezone"), str):
        job["timezone"] = pick(TIMEZONES, job["timezone"])
    if isinstance(job.get("runAt"), str):
        job["runAt"] = instant(datetime.timedelta(hours=1))
    if isinstance(job.get("startAt"), str):
        job["startAt"] = instant(-datetime.timedelta(days=1))
    if isinstance(job.get("endAt"), str):
        job["endAt"] = instant(datetime.timedelta(days=365))
    retry = job.get("retry")
    if isinstance(retry, dict):
        initial = retry.get("initialBackoffMs")
        most = retry.get("maxBackoffMs")
        initial = initial if is_number(initial) else DEFAULT_INITIAL_BACKOFF_MS
        most = most if is_number(most) else DEFAULT_MAX_BACKOFF_MS
        if initial > most:
            retry["initialBackoffMs"] = most
    if isinstance(job.get("secretHeaders"), list):
        headers = job.get("headers") if isinstance(job.get("headers"), dict) else {}
        names = {name.lower() for name in headers}
        job["secretHeaders"] = [
            name for name in job["secretHeaders"] if isinstance(name, str) and name.lower() in names
        ]
    secret = job.get("signingSecret")
    if isinstance(secret, str):
        job["signingSecret"] = fix_secret(secret)
    elif isinstance(secret, list):
        job["signingSecret"] = [fix_secret(s) if isinstance(s, str) else s for s in secret]
    return job


def fix_secret(secret):
    """A signing secret cut to the server's limit in bytes."""
    if len(secret.encode()) > MAX_SIGNING_SECRET_BYTES:
        return secret.encode()[:MAX_SIGNING_SECRET_BYTES].decode(errors="ignore") or "s"
    return secret


@schemathesis.hook
def before_call(context, case, **kwargs):
    """Fixes the final request of a positive case: in the stateful phase, links fill in path
    parameters after generation, so this runs just before sending rather than on generation."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    path = case.operation.path
    if path == "/api/cron/explain" and isinstance(case.query, dict):
        if isinstance(case.query.get("schedule"), str):
            case.query["schedule"] = pick(SCHEDULES, case.query["schedule"])
        if isinstance(case.query.get("timezone"), str):
            case.query["timezone"] = pick(TIMEZONES, case.query["timezone"])
    elif path in ("/api/jobs", "/api/jobs/{jobId}") and isinstance(case.body, dict):
        case.body = fix_job(case.body)
        job_id = (case.path_parameters or {}).get("jobId")
        if isinstance(case.body.get("api"), str):
            case.body["api"] = case.body["api"].replace(":***@", ":password@", 1)
        # Likewise a signing secret of *** keeps the stored one at its place, which may be none.
        secret = case.body.get("signingSecret")
        if secret == "***":
            case.body["signingSecret"] = "secret"
        elif isinstance(secret, list):
            case.body["signingSecret"] = ["secret" if s == "***" else s for s in secret]
        if isinstance(case.body.get("jobId"), str) and job_id is not None:
            case.body["jobId"] = str(job_id)
        if_match = (case.headers or {}).get("If-Match", "")
        digits = "".join(c for c in if_match if c.isdigit())
        if is_number(case.body.get("version")) and digits and "*" not in if_match:
            case.body["version"] = int(digits)
    elif path == "/api/jobs:batch" and isinstance(case.body, list):
        case.body = [fix_job(job) for job in case.body]
