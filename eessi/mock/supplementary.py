"""The mock supplementary (mutual) insurer, S1-S4: asks the CNS, waits, pays the difference.

A Luxembourg mutual insurer is not an EESSI institution: no SED goes to it. What it needs from
the CNS is one domestic answer, "is this person validly enrolled with the CCSS today?" (S2).
There is no SED for that question, so the simulation models it as an **in-process query** of
the running CNS desk (:class:`CnsEnrolment`): the person is

* ``main_insured`` if their matricule is a main insured's whose affiliation covers the day;
* ``co_insured`` if the CNS has registered them (:class:`~eessi.core.cns.Registration`) for
  that day, whatever the path (R13-R18);
* ``not_enrolled`` otherwise.

A person is named by the Luxembourg matricule (13 digits) or, for a family member without one,
by the CNS's key ``"household/member"``.

:class:`SupplementaryMock` keeps the insurer's enrolments: it enrols only after asking the CNS
(S2), applies the product's waiting period (S2), and, on a claim, asks the CNS again (benefits
only while enrolled) and reimburses a share of the difference between the cost and the CNS's
reimbursement, capped (S1, S3), with the rules cited. The maths is
:class:`~eessi.core.supplementary.SupplementaryInsurer`'s; routes: :func:`add_supplementary_routes`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from aiohttp import web

from eessi.clock import Clock
from eessi.core.messages import MemberRef
from eessi.core.rules import RuleApplication
from eessi.core.supplementary import (
    Audience,
    Category,
    CcssStatus,
    Enrolment,
    Reimbursement,
    SupplementaryInsurer,
)
from eessi.errors import ConfigError, DomainError
from eessi.mock.profiles import Profile
from eessi.node.http_api import ApiError, admin_auth, admin_subapp, read_json

__all__ = [
    "CnsEnrolment",
    "EnrolmentLookup",
    "SupplementaryMock",
    "add_supplementary_routes",
    "product_dict",
]


class EnrolmentLookup(Protocol):
    """The question the insurer asks the CNS (S2)."""

    def status(self, person: str, on: date) -> CcssStatus: ...


class CnsEnrolment:
    """:class:`EnrolmentLookup` answered by a running CNS desk, in process.

    ``desk_of`` returns the CNS's current :class:`~eessi.core.cns.CnsDesk` (a node may rebuild
    its desk, so the lookup asks each time): anything with ``registry`` and ``registrations``.
    """

    def __init__(self, desk_of: Callable[[], Any]) -> None:
        self.desk_of = desk_of

    def status(self, person: str, on: date) -> CcssStatus:
        desk = self.desk_of()
        registry = desk.registry
        ref: MemberRef | None = None
        if "/" in person:
            household, member = person.split("/", 1)
            try:
                entry = registry.entry(household)
            except DomainError:
                return CcssStatus.NOT_ENROLLED
            for main in entry.household.main_insured:
                if main.id == member:
                    return _main_status(main, on)
            ref = MemberRef(household, member)
        else:
            entry = registry.by_main_pin(person)
            if entry is not None:
                main = next(m for m in entry.household.main_insured if m.pin == person)
                return _main_status(main, on)
            found = registry.by_member_pin(person)
            if found is not None:
                ref = MemberRef(found[0].key, found[1])
        if ref is None:
            return CcssStatus.NOT_ENROLLED
        reg = desk.registrations.get(ref)
        if reg is not None and reg.start <= on and (reg.end is None or on <= reg.end):
            return CcssStatus.CO_INSURED
        return CcssStatus.NOT_ENROLLED


def _main_status(main: Any, on: date) -> CcssStatus:
    end = main.affiliation_end
    if main.affiliated_since <= on and (end is None or on <= end):
        return CcssStatus.MAIN_INSURED
    return CcssStatus.NOT_ENROLLED


class SupplementaryMock:
    """One supplementary insurer (from a ``kind = "supplementary"`` profile) and its
    enrolments (see the module docstring)."""

    def __init__(self, profile: Profile, lookup: EnrolmentLookup, clock: Clock) -> None:
        if profile.insurer is None:
            raise ConfigError(
                f"profile {profile.id} is not a supplementary insurer",
                code="mock.bad-profile",
                where=profile.source,
                hint='use a profile with kind = "supplementary" and a [supplementary] table',
            )
        self.profile = profile
        self.insurer: SupplementaryInsurer = profile.insurer
        self.lookup = lookup
        self.clock = clock
        self.enrolments: dict[str, Enrolment] = {}

    def enrol(
        self,
        person: str,
        audience: Audience,
        on: date | None = None,
        *,
        product: str | None = None,
    ) -> Enrolment:
        """Ask the CNS, then enrol ``person`` from ``on`` (default: today) in ``product``
        (default: the insurer's first) if S2 and S4 allow. A new enrolment replaces the last."""
        day = on or self.clock.now().date()
        enrolment = self.profile.product(product).enrol(
            person, self.lookup.status(person, day), day, audience=audience
        )
        if enrolment.accepted:
            self.enrolments[person] = enrolment
        return enrolment

    def claim(
        self,
        person: str,
        category: Category,
        cost: Decimal,
        cns_reimbursed: Decimal,
        on: date | None = None,
    ) -> Reimbursement:
        """The supplementary reimbursement of one claim (0 with the reason when refused)."""
        day = on or self.clock.now().date()
        enrolment = self.enrolments.get(person)
        if enrolment is None:
            return Reimbursement(
                category,
                cost,
                cns_reimbursed,
                Decimal("0.00"),
                (RuleApplication("S2", f"{person} is not enrolled with {self.insurer.name}"),),
            )
        if self.lookup.status(person, day) is CcssStatus.NOT_ENROLLED:
            return Reimbursement(
                category,
                cost,
                cns_reimbursed,
                Decimal("0.00"),
                (RuleApplication("S2", f"not validly enrolled with the CCSS on {day}"),),
            )
        product = self.profile.product(enrolment.product)
        return product.reimburse(enrolment, category, cost, cns_reimbursed, day)


# --------------------------------------------------------------------------- routes


def product_dict(product: SupplementaryInsurer) -> dict[str, Any]:
    """A product as the routes and ``eessi supplementary products --json`` show it."""
    return {
        "id": product.id,
        "product": product.product,
        "name": product.name,
        "waiting_period": product.waiting_period.iso(),
        "audiences": sorted(a.value for a in product.audiences),
        "covers": [
            {
                "category": c.category.value,
                "rate": str(c.rate),
                "ceiling": None if c.ceiling is None else str(c.ceiling),
            }
            for c in product.covers
        ],
    }


def _bad(message: str, key: str, kind: str) -> ApiError:
    return ApiError(
        400, message, where=f"/{key}", hint=f"give {key} ({kind})", code="admin.bad-request"
    )


def _field(body: Any, key: str, kind: str, convert: Callable[[Any], Any]) -> Any:
    if not isinstance(body, dict) or key not in body:
        raise _bad(f"{key} is missing", key, kind)
    try:
        return convert(body[key])
    except (ValueError, TypeError, InvalidOperation):
        raise _bad(f"{key} is not {kind}: {body[key]!r}", key, kind) from None


def _day(body: Any) -> date | None:
    if isinstance(body, dict) and body.get("on") is not None:
        day: date = _field(body, "on", "an ISO date", lambda v: date.fromisoformat(str(v)))
        return day
    return None


def _money(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TypeError
    return Decimal(str(value))


def _person(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError
    return value


def add_supplementary_routes(
    app: web.Application, mock: SupplementaryMock, *, prefix: str = "/api/supplementary/"
) -> None:
    """Mount the insurer's routes at ``prefix`` of ``app`` (before it starts)::

    GET  {prefix}product             the default product (covers, waiting period, audiences)
    GET  {prefix}products            every product of the insurer
    GET  {prefix}ccss-status?person=&on=   what the CNS answers about a person (S2)
    POST {prefix}enrolments          {"person", "audience", "product"?, "on"?} -> the enrolment
    GET  {prefix}enrolments          the accepted enrolments
    POST {prefix}claims              {"person", "category", "cost", "cns_reimbursed", "on"?}
    """

    async def product(request: web.Request) -> web.Response:
        return web.json_response(product_dict(mock.insurer))

    async def products(request: web.Request) -> web.Response:
        return web.json_response({"products": [product_dict(p) for p in mock.profile.products]})

    async def status(request: web.Request) -> web.Response:
        query = dict(request.query)
        person = _field(query, "person", "a matricule or household/member", _person)
        day = _day(query) or mock.clock.now().date()
        return web.json_response(
            {
                "person": person,
                "on": day.isoformat(),
                "status": mock.lookup.status(person, day).value,
            }
        )

    async def enrol(request: web.Request) -> web.Response:
        body = await _json(request)
        person = _field(body, "person", "a matricule or household/member", _person)
        audience = _field(body, "audience", "an audience", Audience)
        code = body.get("product") if isinstance(body, dict) else None
        if code is not None and code not in {p.product for p in mock.profile.products}:
            offered = ", ".join(p.product for p in mock.profile.products)
            raise _bad(f"unknown product {code!r}", "product", f"one of: {offered}")
        enrolment = mock.enrol(person, audience, _day(body), product=code)
        return web.json_response(enrolment.to_dict(), status=201 if enrolment.accepted else 200)

    async def enrolments(request: web.Request) -> web.Response:
        return web.json_response({"enrolments": [e.to_dict() for e in mock.enrolments.values()]})

    async def claim(request: web.Request) -> web.Response:
        body = await _json(request)
        result = mock.claim(
            _field(body, "person", "a matricule or household/member", _person),
            _field(body, "category", "a category", Category),
            _field(body, "cost", "an amount as a string", _money),
            _field(body, "cns_reimbursed", "an amount as a string", _money),
            _day(body),
        )
        return web.json_response(result.to_dict())

    # The admin stack of the node's own routes: the same auth rule (the node's token; without
    # one, loopback only), errors and body reader (eessi.node.http_api).
    sub = admin_subapp(admin_auth(app, host=None, token=None), routes="/api/openapi.json")
    sub.router.add_get("/product", product)
    sub.router.add_get("/products", products)
    sub.router.add_get("/ccss-status", status)
    sub.router.add_post("/enrolments", enrol)
    sub.router.add_get("/enrolments", enrolments)
    sub.router.add_post("/claims", claim)
    app.add_subapp(prefix, sub)


async def _json(request: web.Request) -> Any:
    return await read_json(request, empty={}, hint="send a JSON object")
