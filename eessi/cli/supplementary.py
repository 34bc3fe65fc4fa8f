"""``eessi supplementary products|claim``: supplementary (mutual) insurance, S1-S4, from a shell.

``products`` lists what the supplementary insurers of the mock profiles sell: each product's
waiting period (an ISO 8601 duration), audiences and covers. ``claim`` enrols a person in a
product and reimburses one claim: it decides the enrolment (S4: the product is offered to the
person's audience; S2: only someone validly enrolled with the CCSS, and not before the waiting
period is over), then the claim (S3: the category is covered; S1: a share of the difference
between the cost and the CNS's reimbursement, up to the ceiling). Every line cites its rule.

The CCSS status is given (``--status``) or derived from a household file: a main insured is
enrolled while affiliated; a family member is enrolled when the co-insurance decision (R1-R18)
on the enrolment day makes them eligible.

Exit codes: 0 decided (paid or not); 2 the input is wrong (the message says what to change).
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from eessi.cli._help import examples

__all__ = ["register", "run_claim", "run_products"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "supplementary",
        help="supplementary insurance (S1-S4): products, enrolment and claims",
        description="Supplementary (mutual) insurance, rules S1-S4: the products the mock "
        "insurers sell, and claims reimbursed on top of the CNS.",
        **examples(
            "eessi supplementary products",
            "eessi supplementary claim --product optimum --status co_insured "
            "--enrolled-on 2026-03-01 --on 2026-10-01 --category soft_medicine "
            "--cost 150 --cns-reimbursed 0",
        ),
    )
    sub = parser.add_subparsers(dest="supplementary_command", metavar="COMMAND", required=True)
    products = sub.add_parser(
        "products",
        help="list each insurer's products: waiting period, audiences, covers",
        description="List the products of the supplementary insurers of the mock profiles.",
        **examples(
            "eessi supplementary products",
            "eessi supplementary products --insurer LU:CMCM0001 --json",
        ),
    )
    products.add_argument("--insurer", metavar="ID", help="only this insurer (e.g. LU:CMCM0001)")
    products.add_argument("--json", action="store_true", help="print machine-readable JSON")
    products.set_defaults(func=run_products)

    claim = sub.add_parser(
        "claim",
        help="enrol a person in a product and reimburse one claim, citing S1-S4",
        description="Enrol a person in a supplementary product on --enrolled-on (S2, S4), then "
        "decide one claim made on --on (S1-S3). The CCSS status comes from --status or from "
        "a household file (--household and --member).",
        **examples(
            "eessi supplementary claim --product optimum --status co_insured "
            "--enrolled-on 2026-03-01 --on 2026-10-01 --category soft_medicine "
            "--cost 150 --cns-reimbursed 0",
            "eessi supplementary claim --household examples/households/resident-family.json "
            "--member lena --enrolled-on 2026-03-02 --on 2026-07-01 --category hospital "
            "--cost 900 --cns-reimbursed 300 --json",
        ),
    )
    claim.add_argument(
        "--insurer", metavar="ID", default="LU:CMCM0001", help="default: LU:CMCM0001"
    )
    claim.add_argument("--product", metavar="ID", help="default: the insurer's first product")
    who = claim.add_mutually_exclusive_group(required=True)
    who.add_argument(
        "--status",
        choices=("main_insured", "co_insured", "not_enrolled"),
        help="the person's enrolment with the CCSS",
    )
    who.add_argument(
        "--household", metavar="FILE", help="household file (docs/household-format.md)"
    )
    claim.add_argument("--member", metavar="ID", help="with --household: the person's id")
    claim.add_argument(
        "--audience",
        default="resident",
        choices=("resident", "cross_border", "student", "professional_group"),
        help="who the person is, for the product (S4); default: resident",
    )
    claim.add_argument("--enrolled-on", metavar="DATE", type=_day, required=True)
    claim.add_argument("--on", metavar="DATE", type=_day, required=True, help="day of the claim")
    claim.add_argument("--category", required=True, help="e.g. hospital, dental, soft_medicine")
    claim.add_argument("--cost", type=_euros, required=True, help="what the person paid")
    claim.add_argument(
        "--cns-reimbursed", type=_euros, required=True, help="what the CNS reimbursed"
    )
    claim.add_argument("--json", action="store_true", help="print machine-readable JSON")
    claim.set_defaults(func=run_claim)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-03-01") from None


def _euros(text: str) -> Decimal:
    try:
        amount = Decimal(text)
    except InvalidOperation:
        amount = Decimal(-1)
    if not amount.is_finite() or amount < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount of euros >= 0, like 120.50")
    return amount


def _insurers(only: str | None) -> list[Any]:
    from eessi.errors import ConfigError
    from eessi.mock.profiles import load_default_profiles

    found = [p for p in load_default_profiles().values() if p.products]
    if only is not None:
        found = [p for p in found if p.id == only]
        if not found:
            raise ConfigError(
                f"no supplementary insurer {only!r} in the mock profiles",
                code="cli.unknown-insurer",
                hint="eessi supplementary products lists them",
            )
    return found


def run_products(args: argparse.Namespace) -> int:
    from eessi.errors import EessiError
    from eessi.mock.supplementary import product_dict

    try:
        insurers = _insurers(args.insurer)
    except EessiError as exc:
        print(f"eessi supplementary: error: {exc}", file=__import__("sys").stderr)
        return 2
    if args.json:
        out = [{"insurer": p.id, "products": [product_dict(x) for x in p.products]}
               for p in insurers]  # fmt: skip
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    for profile in insurers:
        print(f"{profile.id}  {profile.name}")
        for i, product in enumerate(profile.products):
            default = " (default)" if i == 0 else ""
            audiences = ", ".join(sorted(a.value for a in product.audiences))
            print(f"  {product.product}{default}: {product.name}")
            print(f"      waiting period {product.waiting_period} (S2); for {audiences} (S4)")
            for c in product.covers:
                ceiling = "no ceiling" if c.ceiling is None else f"up to {c.ceiling} per claim"
                print(f"      {c.category.value:<20} {c.rate:>4} of the difference, {ceiling}")
    return 0


def run_claim(args: argparse.Namespace) -> int:
    import sys

    from eessi.core.supplementary import Audience, Category
    from eessi.errors import ConfigError, EessiError

    try:
        (profile,) = _insurers(args.insurer)
        product = profile.product(args.product)
        try:
            category = Category(args.category)
        except ValueError:
            raise ConfigError(
                f"unknown category {args.category!r}",
                code="cli.bad-category",
                hint=f"use one of: {', '.join(c.value for c in Category)}",
            ) from None
        status, where, why = _status(args)
        enrolment = product.enrol(where, status, args.enrolled_on, audience=Audience(args.audience))
        paid = product.reimburse(enrolment, category, args.cost, args.cns_reimbursed, args.on)
    except EessiError as exc:
        if args.json:
            print(json.dumps({"error": exc.to_dict()}, indent=2))
        print(f"eessi supplementary: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        out = {
            "ccss_status": status.value,
            "ccss_status_why": why,
            "enrolment": enrolment.to_dict(),
            "claim": {**paid.to_dict(), "on": args.on.isoformat()},
        }
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    verdict = "accepted" if enrolment.accepted else "refused"
    print(f"{profile.id} {product.product}: enrolment of {where} on {args.enrolled_on} {verdict}")
    print(f"    CCSS status: {status.value.replace('_', ' ')} ({why})")
    for r in enrolment.reasons:
        print(f"    {r.rule:>3}  {r.explanation}")
    print(f"claim on {args.on} for {category.value}: pays {paid.amount} EUR")
    print(
        f"    cost {paid.cost}, CNS reimbursed {paid.cns_reimbursed}, "
        f"left to pay {paid.left_to_pay}"
    )
    for r in paid.reasons:
        print(f"    {r.rule:>3}  {r.explanation}")
    return 0


def _status(args: argparse.Namespace) -> tuple[Any, str, str]:
    """The person's CCSS status, name and why: given, or derived from the household file."""
    from eessi.cli.eligibility import read_household
    from eessi.core.eligibility import decide
    from eessi.core.supplementary import CcssStatus, status_from_decision
    from eessi.errors import ConfigError

    if args.status is not None:
        if args.member is not None:
            raise ConfigError(
                "--member goes with --household",
                code="cli.usage",
                hint="give --household FILE --member ID, or --status alone",
            )
        return CcssStatus(args.status), "the person", "given with --status"
    if args.member is None:
        raise ConfigError(
            "--household needs --member",
            code="cli.usage",
            hint="name the person by their id in the household file",
        )
    hf = read_household(args.household)
    day = args.enrolled_on
    for main in hf.household.main_insured:
        if main.id == args.member:
            end = main.affiliation_end
            enrolled = main.affiliated_since <= day and (end is None or day <= end)
            status = CcssStatus.MAIN_INSURED if enrolled else CcssStatus.NOT_ENROLLED
            return status, main.id, f"affiliated since {main.affiliated_since}"
    ids = [m.id for m in hf.household.members]
    if args.member not in ids:
        raise ConfigError(
            f"no person {args.member!r} in household {hf.household.id!r}",
            where=args.household,
            code="cli.unknown-member",
            hint=f"ids: {', '.join([m.id for m in hf.household.main_insured] + ids)}",
        )
    decision = decide(hf.household, args.member, on=day, facts=hf.facts, params=hf.parameters)
    rules = ", ".join(dict.fromkeys(r.rule for r in decision.reasons))
    why = f"co-insurance decision on {day}: {decision.outcome.value} [{rules}]"
    return status_from_decision(decision), args.member, why
