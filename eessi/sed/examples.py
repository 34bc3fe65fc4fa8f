"""Realistic, deterministic example documents for every SED and version.

``example("S072", "4.4", seed=3)`` always builds the same document: everything comes from
``random.Random(seed)`` and a fixed reference date, never from the clock. The story behind the
examples is the one of ``shared/domain.md``: a Luxembourg family (main insured, spouse, children)
with a foreign fund on the other side: the CPAM de la Moselle (France), a Belgian mutual
insurer, or a German Krankenkasse. PINs are plausible: the Luxembourg 13-digit matricule
(``YYYYMMDD`` + 3 digits + Luhn + Verhoeff check digits, matching the date of birth), the French
15-digit NIR with its key, the Belgian national number with its check, a German health
insurance number.

Used by tests, the ``eessi sed example`` command, and as fixtures by other layers.
"""

from __future__ import annotations

import datetime as _dt
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from eessi.errors import UnknownSedError, UnsupportedVersionError
from eessi.sed.catalogue import SEDS, SUPPORTED_VERSIONS
from eessi.sed.documents import (
    S040,
    S041,
    S071,
    S072,
    S073,
    X001,
    X008,
    X009,
    X010,
    X011,
    X012,
    X013,
    X050,
    Answer,
    Attachment,
    AwaitedSed,
    BenefitType,
    ClosureReason,
    Document,
    ExceptionCode,
    FamilyMemberStatus,
    InsurancePeriod,
    InsuranceType,
    InsuredStatus,
    InvalidationReason,
    NotConfirmed,
    NotConfirmedReason,
    PeriodKind,
    Question,
    RejectionReason,
    ReminderReply,
    S041Reply,
    SedReference,
    StatusFamilyMember,
    StatusPerson,
)
from eessi.sed.model import (
    Address,
    BirthDetails,
    EuAddress,
    FixedPeriod,
    Institution,
    OpenPeriod,
    OpenPeriodType,
    OptionalPeriod,
    Period,
    Person,
    PersonAddress,
    Pin,
    PlaceOfBirth,
    ResidenceAddress,
    Sex,
)

__all__ = [
    "CNS",
    "FOREIGN_FUNDS",
    "Family",
    "be_national_number",
    "example",
    "example_xml",
    "family",
    "fr_nir",
    "lu_matricule",
]

#: Reference "today" of the examples: dates are drawn around it, never from the clock.
REFERENCE_DATE: Final = _dt.date(2026, 3, 2)

#: Luxembourg's health fund.
CNS: Final = Institution(id="LU:CNS00001", name="Caisse nationale de santé")

#: Foreign health funds, by country.
FOREIGN_FUNDS: Final[dict[str, Institution]] = {
    "FR": Institution(id="FR:CPAM5701", name="Caisse primaire d'assurance maladie de la Moselle"),
    "BE": Institution(id="BE:MC000200", name="Mutualité chrétienne de la province de Luxembourg"),
    "DE": Institution(id="DE:TKK00001", name="Techniker Krankenkasse"),
}

_SURNAMES: Final = {
    "LU": ("Weber", "Schmit", "Muller", "Wagner", "Hoffmann", "Thill", "Kremer", "Reuter"),
    "FR": ("Martin", "Bernard", "Thomas", "Petit", "Durand", "Lefebvre", "Moreau", "Laurent"),
    "BE": ("Peeters", "Dubois", "Lambert", "Dupont", "Janssens", "Leclercq", "Maes", "Simon"),
    "DE": ("Schneider", "Fischer", "Meyer", "Becker", "Schulz", "Koch", "Richter", "Klein"),
}
_FORENAMES: Final = {
    Sex.MALE: ("Jean", "Luc", "Marc", "Paul", "Tom", "Lucas", "Noah", "Jérôme", "Gilles", "Ben"),
    Sex.FEMALE: ("Anne", "Marie", "Sophie", "Léa", "Emma", "Claire", "Julie", "Nathalie", "Mia"),
}
#: (town, postal code, region) near the Luxembourg border.
_TOWNS: Final = {
    "LU": (
        ("Luxembourg", "1273", None),
        ("Esch-sur-Alzette", "4002", None),
        ("Differdange", "4530", None),
        ("Ettelbruck", "9010", None),
    ),
    "FR": (
        ("Thionville", "57100", "Moselle"),
        ("Metz", "57000", "Moselle"),
        ("Yutz", "57970", "Moselle"),
        ("Hettange-Grande", "57330", "Moselle"),
        ("Audun-le-Tiche", "57390", "Moselle"),
    ),
    "BE": (
        ("Arlon", "6700", "Luxembourg"),
        ("Aubange", "6790", "Luxembourg"),
        ("Messancy", "6780", "Luxembourg"),
        ("Virton", "6760", "Luxembourg"),
    ),
    "DE": (
        ("Trier", "54290", "Rheinland-Pfalz"),
        ("Konz", "54329", "Rheinland-Pfalz"),
        ("Saarburg", "54439", "Rheinland-Pfalz"),
        ("Perl", "66706", "Saarland"),
    ),
}
_STREETS: Final = {
    "LU": ("rue de la Gare", "avenue de la Liberté", "route d'Arlon", "rue du Fort Neipperg"),
    "FR": ("rue de la Gare", "avenue Foch", "rue des Jardins", "rue Nationale"),
    "BE": ("rue de Diekirch", "avenue de Longwy", "Grand-Rue", "rue des Martyrs"),
    "DE": ("Hauptstraße", "Bahnhofstraße", "Saarstraße", "Luxemburger Straße"),
}


# --- identification numbers ---------------------------------------------------------------

_VERHOEFF_D: Final = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P: Final = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
_VERHOEFF_INV: Final = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)


def _luhn_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def _verhoeff_digit(digits: str) -> str:
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[(i + 1) % 8][int(ch)]]
    return str(_VERHOEFF_INV[c])


def lu_matricule(birth_date: _dt.date, serial: int) -> str:
    """Luxembourg national identification number (13 digits).

    ``YYYYMMDD`` + a 3-digit serial + a Luhn and a Verhoeff check digit (both over the first 11).
    """
    base = f"{birth_date:%Y%m%d}{serial % 1000:03d}"
    return base + _luhn_digit(base) + _verhoeff_digit(base)


def fr_nir(sex: Sex, birth_date: _dt.date, department: str, commune: int, order: int) -> str:
    """French NIR (15 digits: 13 + the key ``97 - n mod 97``)."""
    first = "1" if sex is Sex.MALE else "2"
    base = f"{first}{birth_date:%y%m}{department}{commune % 1000:03d}{order % 1000:03d}"
    key = 97 - int(base) % 97
    return f"{base}{key:02d}"


def be_national_number(sex: Sex, birth_date: _dt.date, serial: int) -> str:
    """Belgian national register number (11 digits; odd serial for men, even for women)."""
    serial = serial % 499 * 2 + (1 if sex is Sex.MALE else 2)
    base = f"{birth_date:%y%m%d}{serial:03d}"
    num = int(base) + (2_000_000_000 if birth_date.year >= 2000 else 0)
    return f"{base}{97 - num % 97:02d}"


def de_kvnr(rng: random.Random) -> str:
    """German health insurance number shape: a letter and nine digits."""
    return rng.choice("ABCDEFGHIJKLMNOPRSTUVWXYZ") + f"{rng.randrange(10**9):09d}"


def _foreign_pin(rng: random.Random, country: str, sex: Sex, born: _dt.date) -> str:
    if country == "FR":
        return fr_nir(sex, born, "57", rng.randrange(1, 999), rng.randrange(1, 999))
    if country == "BE":
        return be_national_number(sex, born, rng.randrange(1000))
    return de_kvnr(rng)


# --- a family -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Family:
    """A household: the main insured (insured with the CNS), spouse and children.

    ``country`` is where the family lives (FR, BE or DE); ``home`` its address there;
    ``main_home`` the main insured's address (in Luxembourg, or with the family).
    """

    country: str
    fund: Institution
    main_insured: Person
    spouse: Person
    children: tuple[Person, ...]
    home: EuAddress
    main_home: Address
    moved_in: _dt.date


def _shift_years(d: _dt.date, years: int) -> _dt.date:
    """``d`` moved by whole years (29 February becomes 28 February in other years)."""
    try:
        return d.replace(year=d.year + years)
    except ValueError:
        return d.replace(year=d.year + years, day=28)


def _date_between(rng: random.Random, start: _dt.date, end: _dt.date) -> _dt.date:
    return start + _dt.timedelta(days=rng.randrange((end - start).days + 1))


def _person(
    rng: random.Random,
    *,
    family_name: str,
    sex: Sex,
    born: _dt.date,
    country: str,
    fund: Institution,
    in_rnpp: bool,
    nationalities: tuple[str, ...],
    birth_town: str,
    birth_name: str | None = None,
) -> Person:
    pins: list[Pin] = []
    if in_rnpp:
        pins.append(
            Pin(
                country="LU",
                number=lu_matricule(born, rng.randrange(1000)),
                sector="06",
                institution=CNS,
            )
        )
    pins.append(
        Pin(
            country=country,
            number=_foreign_pin(rng, country, sex, born),
            sector="06",
            institution=fund,
        )
    )
    details = None
    if not in_rnpp:
        details = BirthDetails(
            place_of_birth=PlaceOfBirth(town=birth_town, country=country),
        )
    return Person(
        family_name=family_name,
        forename=rng.choice(_FORENAMES[sex]),
        birth_date=born,
        sex=sex,
        family_name_at_birth=birth_name,
        pins=tuple(pins),
        birth_details=details,
        nationalities=nationalities,
    )


def family(rng: random.Random) -> Family:
    """A Luxembourg-insured family living in France, Belgium or Germany."""
    country = rng.choice(("FR", "FR", "BE", "DE"))
    fund = FOREIGN_FUNDS[country]
    surname = rng.choice(_SURNAMES[rng.choice(("LU", country))])
    today = REFERENCE_DATE
    main_born = _date_between(rng, _shift_years(today, -70), _shift_years(today, -28))
    main_sex = rng.choice((Sex.MALE, Sex.FEMALE))
    spouse_sex = Sex.FEMALE if main_sex is Sex.MALE else Sex.MALE
    spouse_born = _date_between(
        rng,
        main_born - _dt.timedelta(days=3650),
        min(main_born + _dt.timedelta(days=3650), _shift_years(today, -22)),
    )
    town, postal, region = rng.choice(_TOWNS[country])
    main = Person(
        family_name=surname,
        forename=rng.choice(_FORENAMES[main_sex]),
        birth_date=main_born,
        sex=main_sex,
        pins=(
            Pin(
                country="LU",
                number=lu_matricule(main_born, rng.randrange(1000)),
                sector="06",
                institution=CNS,
            ),
        ),
        nationalities=(rng.choice(("LU", country)),),
    )
    spouse_birth_name = rng.choice(_SURNAMES[country])
    spouse = _person(
        rng,
        family_name=surname,
        sex=spouse_sex,
        born=spouse_born,
        country=country,
        fund=fund,
        in_rnpp=rng.random() < 0.5,
        nationalities=(country,),
        birth_town=town,
        birth_name=spouse_birth_name if spouse_birth_name != surname else None,
    )
    youngest_parent = max(main_born, spouse_born)
    children: list[Person] = []
    first_child = _shift_years(youngest_parent, 20)
    last_child = today - _dt.timedelta(days=30)
    for _ in range(rng.randrange(0, 4) if first_child < last_child else 0):
        born = _date_between(rng, first_child, last_child)
        children.append(
            _person(
                rng,
                family_name=surname,
                sex=rng.choice((Sex.MALE, Sex.FEMALE)),
                born=born,
                country=country,
                fund=fund,
                in_rnpp=rng.random() < 0.5,
                nationalities=(country,) if rng.random() < 0.7 else (country, "LU"),
                birth_town=town,
            )
        )
    children.sort(key=lambda p: p.birth_date)
    home = EuAddress(
        street=f"{rng.randrange(1, 120)} {rng.choice(_STREETS[country])}",
        town=town,
        postal_code=postal,
        region=region,
        country=country,
    )
    if rng.random() < 0.5:
        lu_town, lu_postal, _ = rng.choice(_TOWNS["LU"])
        main_home = Address(
            street=f"{rng.randrange(1, 120)}, {rng.choice(_STREETS['LU'])}",
            town=lu_town,
            postal_code=lu_postal,
            country="LU",
        )
    else:
        main_home = Address(
            street=home.street, town=town, postal_code=postal, region=region, country=country
        )
    moved_in = _date_between(rng, _shift_years(today, -8), today - _dt.timedelta(days=60))
    return Family(country, fund, main, spouse, tuple(children), home, main_home, moved_in)


# --- documents ----------------------------------------------------------------------------


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _ref(rng: random.Random, sed_type: str, version: int = 1) -> SedReference:
    return SedReference(sed_type=sed_type, sed_id=_uuid(rng), sed_version=version)


def _member(rng: random.Random, fam: Family) -> tuple[Person, StatusPerson | StatusFamilyMember]:
    """The person a residence document is about, with a status that fits the main insured's
    age: a pensioner from 62, a pension claimant from 57, otherwise an insured person."""
    age = (REFERENCE_DATE - fam.main_insured.birth_date).days // 365
    if age >= 62:
        own, of = InsuredStatus.PENSIONER, FamilyMemberStatus.OF_PENSIONER
    elif age >= 57 and rng.random() < 0.5:
        own, of = InsuredStatus.PENSION_CLAIMANT, FamilyMemberStatus.OF_PENSION_CLAIMANT
    else:
        own, of = InsuredStatus.INSURED_PERSON, FamilyMemberStatus.OF_INSURED_PERSON
    if rng.random() < 0.2:
        return fam.main_insured, StatusPerson(status=own)
    member = rng.choice((fam.spouse, *fam.children))
    return member, StatusFamilyMember(
        status=of, main_insured=fam.main_insured, main_insured_address=fam.main_home
    )


def _entitlement_period(rng: random.Random, start: _dt.date) -> Period:
    if rng.random() < 0.6:
        return OpenPeriod(type=rng.choice(tuple(OpenPeriodType)), start=start)
    return FixedPeriod(start=start, end=_shift_years(start, rng.randrange(1, 4)))


def _residence(rng: random.Random, fam: Family, version: str) -> ResidenceAddress:
    draw = rng.random()  # drawn in every version, so 4.3 and 4.4 examples differ only here
    since = fam.moved_in if version != "4.3" and draw < 0.7 else None
    return ResidenceAddress(address=fam.home, residence_since=since)


def _start(rng: random.Random) -> _dt.date:
    return REFERENCE_DATE.replace(day=1) + _dt.timedelta(days=rng.randrange(-90, 60))


def _s071(rng: random.Random, version: str) -> S071:
    fam = family(rng)
    person, status = _member(rng, fam)
    return S071(
        version=version,
        person=person,
        address=_residence(rng, fam, version),
        status=status,
        period=_entitlement_period(rng, _start(rng)),
    )


def _s072(rng: random.Random, version: str) -> S072:
    fam = family(rng)
    person, status = _member(rng, fam)
    confirmed = rng.random() < 0.8
    attachments: tuple[Attachment, ...] = ()
    if rng.random() < 0.3:
        attachments = (
            Attachment(
                attachment_id=f"ATT-{rng.randrange(10**6):06d}",
                file_name="certificat-de-residence.pdf",
                mime_type="application/pdf",
                description="Certificate of residence / household composition",
            ),
        )
    not_confirmed = None
    if not confirmed:
        reason = rng.choice(tuple(NotConfirmedReason))
        not_confirmed = NotConfirmed(
            reason=reason,
            details="Insured in the country of residence since 2024."
            if reason is NotConfirmedReason.OTHER or rng.random() < 0.5
            else None,
        )
    return S072(
        version=version,
        person=person,
        address=_residence(rng, fam, version),
        status=status,
        confirmed=confirmed,
        period=_entitlement_period(rng, _start(rng)) if confirmed else None,
        not_confirmed=not_confirmed,
        attachments=attachments,
    )


def _s073(rng: random.Random, version: str) -> S073:
    fam = family(rng)
    person, _ = _member(rng, fam)
    registered = rng.random() < 0.85
    return S073(
        version=version,
        person=person,
        reference=_ref(rng, "S072", rng.choice((1, 1, 1, 2))) if rng.random() < 0.9 else None,
        registered=registered,
        registration_date=_start(rng) if registered else None,
        additional_information=None
        if registered
        else "The person is already insured in the country of residence.",
    )


def _former_fund_person(rng: random.Random) -> tuple[Person, _dt.date, str]:
    """A spouse who moved to Luxembourg and was insured abroad before (R5)."""
    fam = family(rng)
    spouse = fam.spouse
    lu = Pin(
        country="LU",
        number=lu_matricule(spouse.birth_date, rng.randrange(1000)),
        sector="06",
        institution=CNS,
    )
    foreign = next(p for p in spouse.pins if p.country != "LU")
    person = Person(
        family_name=spouse.family_name,
        forename=spouse.forename,
        birth_date=spouse.birth_date,
        sex=spouse.sex,
        family_name_at_birth=spouse.family_name_at_birth,
        pins=(lu, foreign),
        nationalities=spouse.nationalities,
    )
    return person, fam.moved_in, fam.country


def _s040(rng: random.Random, version: str) -> S040:
    person, arrived, _ = _former_fund_person(rng)
    kinds = [PeriodKind.INSURANCE]
    if rng.random() < 0.3:
        kinds.append(PeriodKind.EMPLOYMENT)
    start = _shift_years(arrived, -rng.randrange(1, 6))
    return S040(
        version=version,
        person=person,
        benefit=rng.choice((BenefitType.SICKNESS,) * 4 + (BenefitType.MATERNITY,)),
        period_kinds=tuple(kinds),
        requested_periods=(FixedPeriod(start=start, end=arrived - _dt.timedelta(days=1)),),
        additional_information="Co-insurance of a spouse who arrived in Luxembourg (R5)."
        if rng.random() < 0.5
        else None,
    )


def _s041(rng: random.Random, version: str) -> S041:
    person, arrived, country = _former_fund_person(rng)
    reply = rng.choice((S041Reply.PERIODS_CONFIRMED,) * 3 + tuple(S041Reply))
    lu_town, lu_postal, _ = rng.choice(_TOWNS["LU"])
    address = None
    draw = rng.random()
    if rng.random() < 0.6:
        address = PersonAddress(
            address=Address(
                street=f"{rng.randrange(1, 120)}, {rng.choice(_STREETS['LU'])}",
                town=lu_town,
                postal_code=lu_postal,
                country="LU",
            ),
            residence_since=arrived if version != "4.3" and draw < 0.7 else None,
        )
    insurance: tuple[InsurancePeriod, ...] = ()
    employment: tuple[OptionalPeriod, ...] = ()
    residence: tuple[OptionalPeriod, ...] = ()
    info = None
    if reply is S041Reply.PERIODS_CONFIRMED:
        end = arrived - _dt.timedelta(days=1)
        start = _shift_years(end, -rng.randrange(1, 10)) + _dt.timedelta(days=1)
        insurance = (
            InsurancePeriod(
                period=FixedPeriod(start=start, end=end), insurance=InsuranceType.COMPULSORY
            ),
        )
        if rng.random() < 0.4:
            employment = (OptionalPeriod(start=start, end=end),)
        if rng.random() < 0.3:
            residence = (OptionalPeriod(start=start, end=end),)
    elif reply is S041Reply.CANNOT_CONFIRM:
        info = f"No record found in {country} for the number given; please send the birth name."
    return S041(
        version=version,
        person=person,
        address=address,
        reply=reply,
        insurance_periods=insurance,
        employment_periods=employment,
        residence_periods=residence,
        additional_information=info,
    )


def _bucs_sed(rng: random.Random) -> str:
    return rng.choice(("S040", "S041", "S071", "S072", "S073"))


def _x001(rng: random.Random, version: str) -> X001:
    delayed = rng.random() < 0.5
    return X001(
        version=version,
        reason=rng.choice(tuple(ClosureReason)),
        closure_date=REFERENCE_DATE + _dt.timedelta(days=30) if delayed else None,
        delay_days=30 if delayed else None,
        additional_information="Case completed: registration confirmed by S073."
        if rng.random() < 0.5
        else None,
    )


def _x008(rng: random.Random, version: str) -> X008:
    return X008(
        version=version,
        invalidated=_ref(rng, _bucs_sed(rng)),
        reason=rng.choice(tuple(InvalidationReason)),
        additional_information="Sent for the wrong family member." if rng.random() < 0.5 else None,
    )


def _x009(rng: random.Random, version: str) -> X009:
    awaited = rng.choice((("S072", "S071"), ("S041", "S040"), ("S073", "S072")))
    return X009(
        version=version,
        awaited=(AwaitedSed(sed_type=awaited[0], reference=_ref(rng, awaited[1])),),
        deadline=REFERENCE_DATE + _dt.timedelta(days=rng.choice((14, 30))),
        additional_information="Second reminder." if rng.random() < 0.3 else None,
    )


def _x010(rng: random.Random, version: str) -> X010:
    reply = rng.choice(tuple(ReminderReply))
    return X010(
        version=version,
        reminder=_ref(rng, "X009"),
        reply=reply,
        sent=(_ref(rng, "S072"),) if reply is ReminderReply.SENT else (),
        expected_date=REFERENCE_DATE + _dt.timedelta(days=10)
        if reply is ReminderReply.WILL_BE_SENT
        else None,
        additional_information="The person is not known to us."
        if reply is ReminderReply.CANNOT_BE_SENT
        else None,
    )


def _x011(rng: random.Random, version: str) -> X011:
    return X011(
        version=version,
        rejected=_ref(rng, _bucs_sed(rng)),
        reason=rng.choice(tuple(RejectionReason)),
        additional_information="The person is not insured with this institution.",
    )


def _x012(rng: random.Random, version: str) -> X012:
    questions = [
        Question(
            number=1,
            field_path="Person/PersonIdentification/dateBirth",
            text="Please confirm the date of birth of the person.",
        )
    ]
    if rng.random() < 0.5:
        questions.append(Question(number=2, text="Please give the family name at birth."))
    return X012(version=version, concerned=_ref(rng, _bucs_sed(rng)), questions=tuple(questions))


def _x013(rng: random.Random, version: str) -> X013:
    answers = [Answer(number=1, text="The date of birth is correct.")]
    if rng.random() < 0.5:
        answers.append(Answer(number=2, text="The family name at birth is the same."))
    return X013(version=version, request=_ref(rng, "X012"), answers=tuple(answers))


def _x050(rng: random.Random, version: str) -> X050:
    code = rng.choice(tuple(ExceptionCode))
    return X050(
        version=version,
        exception=code,
        description=f"The SED could not be processed ({code.name.lower().replace('_', ' ')}).",
        technical_code=rng.choice(("sed.invalid", "sed.unsupported-version", None)),
        concerned=_ref(rng, _bucs_sed(rng)) if rng.random() < 0.7 else None,
    )


_BUILDERS: Final[dict[str, Callable[[random.Random, str], Document]]] = {
    "S040": _s040,
    "S041": _s041,
    "S071": _s071,
    "S072": _s072,
    "S073": _s073,
    "X001": _x001,
    "X008": _x008,
    "X009": _x009,
    "X010": _x010,
    "X011": _x011,
    "X012": _x012,
    "X013": _x013,
    "X050": _x050,
}


def example(code: str, version: str = "4.4", seed: int = 0) -> Document:
    """A realistic ``code`` document in ``version``, the same for the same ``seed``.

    Raises :class:`UnknownSedError` for a code outside the catalogue and
    :class:`UnsupportedVersionError` for a version we have no schemas for.
    """
    if code not in SEDS or code not in _BUILDERS:
        raise UnknownSedError(
            f"unknown SED type {code!r}",
            hint=f"known types: {', '.join(sorted(_BUILDERS))}",
            details={"sed": code},
        )
    if version not in SUPPORTED_VERSIONS or version not in SEDS[code].versions:
        raise UnsupportedVersionError(
            f"{code} has no version {version!r}",
            hint=f"supported versions: {', '.join(SEDS[code].versions)}",
            details={"sed": code, "version": version},
        )
    # Seeded per code (not per version): the 4.3 example of a seed is its 4.4 example minus
    # the 4.4-only fields.
    rng = random.Random(f"{code}/{seed}")
    return _BUILDERS[code](rng, version)


def example_xml(code: str, version: str = "4.4", seed: int = 0) -> bytes:
    """The bytes of :func:`example` (identical for the same arguments)."""
    return example(code, version, seed).to_xml()
