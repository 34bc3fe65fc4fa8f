"""Our XSD schemas (``schemas/``): they compile offline, name and place every SED as the
catalogue says, and S071/S041 agree with the official CDM 4.4 files on valid and invalid documents.

Only lxml and files: this does not use the SED models, so a schema mistake shows here first.
The official files are not part of the project; the conformance tests read them from
``$EESSI_OFFICIAL_SCHEMAS`` or ``../shared/cdm-4.4`` beside the checkout and skip without them.
"""

from __future__ import annotations

import importlib.util
import os
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest
from lxml import etree

from eessi.sed.catalogue import SEDS, SUPPORTED_VERSIONS, namespace

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "schemas"
XSD = "{http://www.w3.org/2001/XMLSchema}"
SBDH_NS = "http://ec.europa.eu/eessi/ns/sim/sbdh"


def _official_dir() -> Path | None:
    env = os.environ.get("EESSI_OFFICIAL_SCHEMAS")
    d = Path(env) if env else REPO.parent / "shared" / "cdm-4.4"
    return d if d.is_dir() else None


def _parser() -> etree.XMLParser:
    return etree.XMLParser(no_network=True, resolve_entities=False)


@cache
def ours(code: str, version: str = "4.4") -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMAS / version / f"{code}.xsd"), _parser()))


@cache
def official(code: str) -> etree.XMLSchema:
    d = _official_dir()
    if d is None:
        pytest.skip(
            "official CDM 4.4 schemas not found: set EESSI_OFFICIAL_SCHEMAS or put them in "
            "../shared/cdm-4.4 beside the checkout"
        )
    files = sorted(d.glob(f"{code}*.xsd"))
    if not files:
        pytest.skip(f"no official schema for {code} in {d}")
    return etree.XMLSchema(etree.parse(str(files[0]), _parser()))


def errors(schema: etree.XMLSchema, xml: str) -> list[str]:
    """Validation messages (empty when valid)."""
    doc = etree.fromstring(xml.encode(), _parser())
    if schema.validate(doc):
        return []
    return str(schema.error_log).splitlines()


# ---------------------------------------------------------------- documents


def person(*, full: bool = False, family: str = "SCHMIT", first: str = "Anne") -> str:
    """A Person block's content (PersonIdentification and, if full, everything optional)."""
    if not full:
        return (
            "<PersonIdentification>"
            f"<familyName>{family}</familyName><forename>{first}</forename>"
            "<dateBirth>1988-04-12</dateBirth><sex><value>02</value></sex>"
            "</PersonIdentification>"
        )
    return (
        "<PersonIdentification>"
        f"<familyName>{family}</familyName><forename>{first}</forename>"
        "<dateBirth>1985-11-03</dateBirth><sex><value>01</value></sex>"
        "<familyNameAtBirth>MARTIN</familyNameAtBirth><forenameAtBirth>Luc</forenameAtBirth>"
        "<PINPersonInEachInstitution>"
        "<PersonalIdentificationNumber><country><value>LU</value></country>"
        "<personalIdentificationNumber>1985110312345</personalIdentificationNumber>"
        "<sector><value>06</value></sector>"
        "<Institution><institutionID>LU:CNS00001</institutionID>"
        "<institutionName>Caisse nationale de santé</institutionName></Institution>"
        "</PersonalIdentificationNumber>"
        "<PersonalIdentificationNumber><country><value>FR</value></country>"
        "<personalIdentificationNumber>185117512345678</personalIdentificationNumber>"
        "</PersonalIdentificationNumber>"
        "</PINPersonInEachInstitution>"
        "<IfPINNotProvidedForEveryInstitutionPleaseProvide>"
        "<PlaceBirth><town>Beograd</town><region>Srbija</region>"
        "<country><value>YUCS</value></country></PlaceBirth>"
        "<fatherFamilyNameAtBirth>MARTIN</fatherFamilyNameAtBirth>"
        "<forenameFather>Paul</forenameFather>"
        "<motherFamilyNameAtBirth>PETROVIC</motherFamilyNameAtBirth>"
        "<forenameMother>Jelena</forenameMother>"
        "</IfPINNotProvidedForEveryInstitutionPleaseProvide>"
        "</PersonIdentification>"
        "<AdditionalInformationPerson><nationality><value>LU</value><value>RS</value>"
        "</nationality></AdditionalInformationPerson>"
    )


SIGNATURE = (
    '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>'
    '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
    '<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>'
    '<ds:Reference URI=""><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
    "<ds:DigestValue>AAAA</ds:DigestValue></ds:Reference></ds:SignedInfo>"
    "<ds:SignatureValue>AAAA</ds:SignatureValue></ds:Signature>"
)


def root(code: str, body: str, version: str = "4.4") -> str:
    return f'<x:{code} xmlns:x="{namespace(code, version)}">{body}</x:{code}>'


def s071_min(version: str = "4.4", *, residence_since: bool = False) -> str:
    since = "<residenceInThisCountrySince>2023-09-01</residenceInThisCountrySince>"
    return root(
        "S071",
        f"<Person>{person()}</Person>"
        "<AddressOfPersonForWhomAnEntitlementDocument><Address><town>Thionville</town>"
        "<country><value>FR</value></country></Address>"
        f"{since if residence_since else ''}"
        "</AddressOfPersonForWhomAnEntitlementDocument>"
        "<StatusPerson><status><value>01</value></status></StatusPerson>"
        "<PeriodEntitlement><FixedPeriod><startDate>2024-01-01</startDate>"
        "<endDate>2024-12-31</endDate></FixedPeriod></PeriodEntitlement>",
        version,
    )


def s071_max() -> str:
    return root(
        "S071",
        f"<Person>{person(full=True, family='MULLER', first='Léa')}</Person>"
        "<AddressOfPersonForWhomAnEntitlementDocument><Address>"
        "<street>12 rue des Jardins</street><buildingName>Résidence Les Tilleuls</buildingName>"
        "<town>Thionville</town><postalCode>57100</postalCode><region>Moselle</region>"
        "<country><value>FR</value></country></Address>"
        "<residenceInThisCountrySince>2023-09-01</residenceInThisCountrySince>"
        "</AddressOfPersonForWhomAnEntitlementDocument>"
        "<StatusFamilyMember><status><value>01</value></status>"
        f"<PleaseFillInDetailsMainInsuredPerson>{person(full=True)}"
        "</PleaseFillInDetailsMainInsuredPerson>"
        "<AddressMainInsuredPerson><street>3 route d'Arlon</street><town>Luxembourg</town>"
        "<postalCode>L-1140</postalCode><country><value>LU</value></country>"
        "</AddressMainInsuredPerson></StatusFamilyMember>"
        "<PeriodEntitlement><OpenPeriod><typeOpenPeriod><value>01</value></typeOpenPeriod>"
        "<startDate>2024-02-01</startDate></OpenPeriod></PeriodEntitlement>" + SIGNATURE,
    )


def s041_min() -> str:
    return root(
        "S041",
        f"<Person>{person()}</Person><Reply><inReplyS040><value>01</value></inReplyS040></Reply>",
    )


def s041_max() -> str:
    opt = "<startDate>2015-01-01</startDate><endDate>2019-06-30</endDate>"
    return root(
        "S041",
        f"<Person>{person(full=True)}</Person>"
        "<PersonAddress><Address><street>Rue Haute 5</street><town>Arlon</town>"
        "<postalCode>6700</postalCode><region>Luxembourg</region>"
        "<country><value>BE</value></country></Address>"
        "<residenceInThisCountrySince>2010-03-15</residenceInThisCountrySince></PersonAddress>"
        "<Reply><inReplyS040><value>02</value></inReplyS040></Reply>"
        "<ReplyRequestForPeriods>"
        "<InsurancePeriods>"
        "<InsurancePeriod><Period><FixedPeriod><startDate>2015-01-01</startDate>"
        "<endDate>2019-06-30</endDate></FixedPeriod></Period>"
        "<insurance><value>01</value></insurance></InsurancePeriod>"
        "<InsurancePeriod><Period><OpenPeriod><typeOpenPeriod><value>98</value></typeOpenPeriod>"
        "<startDate>2019-07-01</startDate></OpenPeriod></Period>"
        "<insurance><value>03</value></insurance></InsurancePeriod>"
        "<InsurancePeriod><insurance><value>02</value></insurance></InsurancePeriod>"
        "</InsurancePeriods>"
        f"<EmploymentPeriods><EmploymentPeriod>{opt}</EmploymentPeriod>"
        "<EmploymentPeriod><startDate>2019-07-01</startDate></EmploymentPeriod></EmploymentPeriods>"
        f"<SelfEmploymentPeriods><SelfEmploymentPeriod>{opt}</SelfEmploymentPeriod>"
        "</SelfEmploymentPeriods>"
        f"<ResidencePeriods><ResidencePeriod>{opt}</ResidencePeriod><ResidencePeriod/>"
        "</ResidencePeriods>"
        "</ReplyRequestForPeriods>"
        "<AdditionalInformation><additionalInformation>Periods up to the move to Luxembourg."
        "</additionalInformation></AdditionalInformation>" + SIGNATURE,
    )


VALID = {
    "S071 minimal": ("S071", s071_min),
    "S071 maximal": ("S071", s071_max),
    "S041 minimal": ("S041", s041_min),
    "S041 maximal": ("S041", s041_max),
}

#: name -> (code, document builder, (old, new) replacement that makes it invalid)
INVALID = {
    "institution ID without colon": (
        "S071",
        s071_max,
        ("<institutionID>LU:CNS00001<", "<institutionID>LUCNS00001<"),
    ),
    "institution ID country not EU/EFTA": (
        "S041",
        s041_max,
        ("<institutionID>LU:CNS00001<", "<institutionID>US:SSA00001<"),
    ),
    "institution ID part too short": (
        "S071",
        s071_max,
        ("<institutionID>LU:CNS00001<", "<institutionID>LU:CNS<"),
    ),
    "sex code 04": ("S071", s071_min, ("<sex><value>02</value>", "<sex><value>04</value>")),
    "family name of 156 characters": (
        "S041",
        s041_min,
        ("<familyName>SCHMIT<", f"<familyName>{'A' * 156}<"),
    ),
    "empty forename": ("S071", s071_min, ("<forename>Anne</forename>", "<forename></forename>")),
    "postal code of 26 characters": (
        "S071",
        s071_max,
        ("<postalCode>57100<", f"<postalCode>{'5' * 26}<"),
    ),
    "missing dateBirth": ("S071", s071_min, ("<dateBirth>1988-04-12</dateBirth>", "")),
    "missing PeriodEntitlement": (
        "S071",
        s071_min,
        (
            "<PeriodEntitlement><FixedPeriod><startDate>2024-01-01</startDate>"
            "<endDate>2024-12-31</endDate></FixedPeriod></PeriodEntitlement>",
            "",
        ),
    ),
    "missing Reply": (
        "S041",
        s041_min,
        ("<Reply><inReplyS040><value>01</value></inReplyS040></Reply>", ""),
    ),
    "S041 reply code 04": (
        "S041",
        s041_min,
        ("<value>01</value></inReplyS040>", "<value>04</value></inReplyS040>"),
    ),
    "address country EU is not a country": (
        "S071",
        s071_min,
        (
            "<country><value>FR</value></country></Address>",
            "<country><value>EU</value></country></Address>",
        ),
    ),
    "status of person code 04": (
        "S071",
        s071_min,
        (
            "<StatusPerson><status><value>01</value></status></StatusPerson>",
            "<StatusPerson><status><value>04</value></status></StatusPerson>",
        ),
    ),
    "open period type 02": (
        "S071",
        s071_max,
        ("<typeOpenPeriod><value>01</value>", "<typeOpenPeriod><value>02</value>"),
    ),
    "root in the wrong namespace": (
        "S071",
        s071_min,
        ("http://ec.europa.eu/eessi/ns/4_4/S071", "http://ec.europa.eu/eessi/ns/4_4/S072"),
    ),
    "qualified child element": (
        "S071",
        s071_min,
        ("<Person>", '<Person xmlns="http://ec.europa.eu/eessi/ns/4_4/S071">'),
    ),
}


def _variant(name: str) -> tuple[str, str]:
    code, build, (old, new) = INVALID[name]
    doc = build()
    assert old in doc, f"test bug: {old!r} not in the document for {name!r}"
    return code, doc.replace(old, new, 1)


# ---------------------------------------------------------------- structure


def _all_schema_files() -> list[Path]:
    files = [SCHEMAS / v / f"{c}.xsd" for v in SUPPORTED_VERSIONS for c in sorted(SEDS)]
    return [*files, SCHEMAS / "header" / "sbdh.xsd"]


@pytest.mark.parametrize("path", _all_schema_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_schema_compiles_with_networking_off(path: Path) -> None:
    assert path.is_file(), f"missing schema {path}"
    etree.XMLSchema(etree.parse(str(path), _parser()))


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_schema_directory_has_exactly_the_catalogue_seds_plus_common(version: str) -> None:
    names = {p.name for p in (SCHEMAS / version).glob("*.xsd")}
    assert names == {f"{c}.xsd" for c in SEDS} | {"common.xsd"}


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
@pytest.mark.parametrize("code", sorted(SEDS))
def test_each_sed_schema_has_one_root_named_after_its_code_in_its_namespace(
    code: str, version: str
) -> None:
    xsd = etree.parse(str(SCHEMAS / version / f"{code}.xsd"), _parser()).getroot()
    assert xsd.get("targetNamespace") == namespace(code, version)
    assert xsd.get("elementFormDefault") == "unqualified"
    assert [e.get("name") for e in xsd.findall(f"{XSD}element")] == [code]
    includes = [i.get("schemaLocation") for i in xsd.iter(f"{XSD}include", f"{XSD}import")]
    assert includes == ["common.xsd"], "only the local chameleon include is allowed"


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_common_xsd_is_a_chameleon_schema_without_namespace(version: str) -> None:
    xsd = etree.parse(str(SCHEMAS / version / "common.xsd"), _parser()).getroot()
    assert xsd.get("targetNamespace") is None
    assert xsd.findall(f"{XSD}element") == [], "common.xsd must declare types only"


@pytest.mark.parametrize("code", sorted(SEDS))
def test_each_sed_accepts_an_optional_xmldsig_signature_as_last_child(code: str) -> None:
    xsd = etree.parse(str(SCHEMAS / "4.4" / f"{code}.xsd"), _parser()).getroot()
    root_type = xsd.find(f"{XSD}complexType[@name='{code}Type']")
    assert root_type is not None
    last = root_type.find(f"{XSD}sequence")[-1]  # type: ignore[index]
    assert last.tag == f"{XSD}any"
    assert last.get("namespace") == "http://www.w3.org/2000/09/xmldsig#"
    assert last.get("minOccurs") == "0"


def test_43_schemas_are_exactly_what_make_43_generates_from_44() -> None:
    spec = importlib.util.spec_from_file_location("make_43", SCHEMAS / "tools" / "make_43.py")
    assert spec is not None
    assert spec.loader is not None
    mod: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    actual = {p.name: p.read_text("utf-8") for p in sorted((SCHEMAS / "4.3").glob("*.xsd"))}
    assert actual == mod.expected_files(SCHEMAS), "run: python schemas/tools/make_43.py"


# ---------------------------------------------------------------- conformance with the official set


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_document_is_accepted_by_our_schema(name: str) -> None:
    code, build = VALID[name]
    assert errors(ours(code), build()) == []


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_document_is_accepted_by_the_official_schema(name: str) -> None:
    code, build = VALID[name]
    assert errors(official(code), build()) == []


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_variant_is_refused_by_our_schema(name: str) -> None:
    code, doc = _variant(name)
    assert errors(ours(code), doc) != []


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_variant_is_refused_by_the_official_schema(name: str) -> None:
    code, doc = _variant(name)
    assert errors(official(code), doc) != []


# ---------------------------------------------------------------- 4.3 vs 4.4


def test_43_s071_without_residence_since_is_valid_against_43() -> None:
    assert errors(ours("S071", "4.3"), s071_min("4.3")) == []


def test_43_s071_with_residence_since_is_refused_by_43_but_valid_as_44() -> None:
    msgs = errors(ours("S071", "4.3"), s071_min("4.3", residence_since=True))
    assert any("residenceInThisCountrySince" in m for m in msgs), msgs
    assert errors(ours("S071", "4.4"), s071_min("4.4", residence_since=True)) == []


def test_43_s041_person_address_has_no_residence_since() -> None:
    doc = s041_max().replace(namespace("S041", "4.4"), namespace("S041", "4.3"))
    msgs = errors(ours("S041", "4.3"), doc)
    assert any("residenceInThisCountrySince" in m for m in msgs), msgs
    without = doc.replace(
        "<residenceInThisCountrySince>2010-03-15</residenceInThisCountrySince>", ""
    )
    assert errors(ours("S041", "4.3"), without) == []


def test_44_document_is_refused_by_the_43_schema_of_the_same_code() -> None:
    assert errors(ours("S071", "4.3"), s071_min("4.4")) != []


# ---------------------------------------------------------------- our other SEDs and the header

REF = (
    "<sedType>{t}</sedType><sedId>3f2504e0-4f89-41d3-9a0c-0305e82c3301</sedId>"
    "<sedVersion>1</sedVersion>"
)
FAMILY = (
    "<StatusFamilyMember><status><value>01</value></status>"
    f"<PleaseFillInDetailsMainInsuredPerson>{person(family='WEBER', first='Marc')}"
    "</PleaseFillInDetailsMainInsuredPerson>"
    "<AddressMainInsuredPerson><town>Esch-sur-Alzette</town><country><value>LU</value></country>"
    "</AddressMainInsuredPerson></StatusFamilyMember>"
)
EU_ADDRESS = (
    "<AddressOfPersonForWhomAnEntitlementDocument><Address><town>Arlon</town>"
    "<country><value>BE</value></country></Address></AddressOfPersonForWhomAnEntitlementDocument>"
)

#: One realistic document body per SED, following the field tables of schemas/README.md.
OTHER_SEDS = {
    "S040": (
        "S040",
        f"<Person>{person(full=True)}</Person><RequestForPeriods>"
        "<benefitType><value>01</value></benefitType>"
        "<typePeriods><value>01</value><value>04</value></typePeriods>"
        "<RequestedPeriod><FixedPeriod><startDate>2019-01-01</startDate>"
        "<endDate>2023-12-31</endDate></FixedPeriod></RequestedPeriod></RequestForPeriods>"
        "<AdditionalInformation><additionalInformation>Arrived in Luxembourg on 2024-01-15."
        "</additionalInformation></AdditionalInformation>",
    ),
    "S072 confirmed, family member": (
        "S072",
        f"<Person>{person()}</Person>{EU_ADDRESS}{FAMILY}"
        "<entitlementConfirmed><value>01</value></entitlementConfirmed>"
        "<PeriodEntitlement><OpenPeriod><typeOpenPeriod><value>01</value></typeOpenPeriod>"
        "<startDate>2024-03-01</startDate></OpenPeriod></PeriodEntitlement>"
        "<Attachments><Attachment><attachmentId>att-1</attachmentId>"
        "<fileName>acte-de-naissance.pdf</fileName><mimeType>application/pdf</mimeType>"
        "<description>Birth certificate</description></Attachment></Attachments>",
    ),
    "S072 not confirmed": (
        "S072",
        f"<Person>{person()}</Person>{EU_ADDRESS}"
        "<StatusPerson><status><value>02</value></status></StatusPerson>"
        "<entitlementConfirmed><value>02</value></entitlementConfirmed>"
        "<ReasonNotConfirmed><reason><value>02</value></reason>"
        "<details>Insurance ended on 2023-12-31.</details></ReasonNotConfirmed>",
    ),
    "S073": (
        "S073",
        f"<Person>{person()}</Person><ReferenceEntitlementDocument>{REF.format(t='S072')}"
        "</ReferenceEntitlementDocument><registrationConfirmed><value>01</value>"
        "</registrationConfirmed><dateRegistration>2024-03-05</dateRegistration>",
    ),
    "X001": (
        "X001",
        "<reason><value>01</value></reason><dateClosure>2024-04-01</dateClosure>"
        "<delayDays>30</delayDays>",
    ),
    "X008": (
        "X008",
        f"<InvalidatedSED>{REF.format(t='S072')}</InvalidatedSED><reason><value>04</value></reason>",
    ),
    "X009": (
        "X009",
        f"<AwaitedSED><sedType>S072</sedType><ReferenceSED>{REF.format(t='S071')}</ReferenceSED>"
        "</AwaitedSED><deadline>2024-05-01</deadline>",
    ),
    "X010": (
        "X010",
        f"<Reminder>{REF.format(t='X009')}</Reminder><reply><value>01</value></reply>"
        f"<SentSED>{REF.format(t='S072')}</SentSED>",
    ),
    "X011": (
        "X011",
        f"<RejectedSED>{REF.format(t='S071')}</RejectedSED><reason><value>03</value></reason>"
        "<AdditionalInformation><additionalInformation>No such person in our register."
        "</additionalInformation></AdditionalInformation>",
    ),
    "X012": (
        "X012",
        f"<SEDConcerned>{REF.format(t='S071')}</SEDConcerned><Question><number>1</number>"
        "<field>Person/PersonIdentification/dateBirth</field>"
        "<text>Please confirm the date of birth.</text></Question>",
    ),
    "X013": (
        "X013",
        f"<ClarificationRequest>{REF.format(t='X012')}</ClarificationRequest>"
        "<Answer><number>1</number><text>1988-04-12 is correct.</text></Answer>",
    ),
    "X050": (
        "X050",
        "<exception><value>02</value></exception><description>SED version 4.1 is not supported."
        "</description><technicalCode>sed.unsupported-version</technicalCode>",
    ),
}


def test_every_catalogue_sed_has_a_sample_here() -> None:
    assert {code for code, _ in OTHER_SEDS.values()} | {"S071", "S041"} == set(SEDS)


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
@pytest.mark.parametrize("name", sorted(OTHER_SEDS))
def test_sample_following_the_readme_tables_is_valid(name: str, version: str) -> None:
    code, body = OTHER_SEDS[name]
    assert errors(ours(code, version), root(code, body + SIGNATURE, version)) == []


def test_s072_with_both_a_period_and_a_refusal_reason_is_refused() -> None:
    _, body = OTHER_SEDS["S072 not confirmed"]
    period = (
        "<PeriodEntitlement><FixedPeriod><startDate>2024-01-01</startDate>"
        "<endDate>2024-12-31</endDate></FixedPeriod></PeriodEntitlement>"
    )
    doc = body.replace("<ReasonNotConfirmed>", period + "<ReasonNotConfirmed>")
    assert errors(ours("S072"), root("S072", doc)) != []


def test_s072_reason_code_outside_our_list_is_refused() -> None:
    _, body = OTHER_SEDS["S072 not confirmed"]
    doc = body.replace("<reason><value>02</value>", "<reason><value>05</value>")
    assert errors(ours("S072"), root("S072", doc)) != []


def test_sed_reference_needs_a_uuid() -> None:
    _, body = OTHER_SEDS["X011"]
    doc = body.replace("3f2504e0-4f89-41d3-9a0c-0305e82c3301", "not-a-uuid")
    assert errors(ours("X011"), root("X011", doc)) != []


HEADER = (
    f'<h:StandardBusinessDocumentHeader xmlns:h="{SBDH_NS}">'
    "<h:Sender><h:identifier>FR:CPAM5700</h:identifier><h:role>PO</h:role></h:Sender>"
    "<h:Receiver><h:identifier>LU:CNS00001</h:identifier><h:role>CP</h:role></h:Receiver>"
    "<h:DocumentIdentification><h:type>S071</h:type><h:typeVersion>4.4</h:typeVersion>"
    "<h:instanceIdentifier>3f2504e0-4f89-41d3-9a0c-0305e82c3301</h:instanceIdentifier>"
    "<h:creationDateAndTime>2024-03-01T09:30:00Z</h:creationDateAndTime>"
    "<h:caseAction>Create</h:caseAction></h:DocumentIdentification>"
    "<h:BusinessScope><h:caseId>FR-1A2B3C4D5E6F</h:caseId><h:bucName>S_BUC_01</h:bucName>"
    "<h:bucVersion>v4.2</h:bucVersion></h:BusinessScope>"
    "</h:StandardBusinessDocumentHeader>"
)


def _sbdh() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMAS / "header" / "sbdh.xsd"), _parser()))


def test_header_alone_and_envelope_with_a_sed_are_valid() -> None:
    schema = _sbdh()
    assert errors(schema, HEADER) == []
    body = HEADER.replace(f' xmlns:h="{SBDH_NS}"', "")
    envelope = (
        f'<h:StandardBusinessDocument xmlns:h="{SBDH_NS}">{body}{s071_min()}'
        "</h:StandardBusinessDocument>"
    )
    assert errors(schema, envelope) == []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("<h:role>PO</h:role>", "<h:role>XX</h:role>"),
        ("FR:CPAM5700", "FR-CPAM5700"),
        ("<h:caseAction>Create</h:caseAction>", "<h:caseAction>Delete</h:caseAction>"),
        ("<h:bucName>S_BUC_01</h:bucName>", "<h:bucName>BUC1</h:bucName>"),
        ("<h:typeVersion>4.4</h:typeVersion>", "<h:typeVersion>four</h:typeVersion>"),
    ],
)
def test_header_with_a_bad_field_is_refused(old: str, new: str) -> None:
    assert old in HEADER
    assert errors(_sbdh(), HEADER.replace(old, new)) != []


# ---------------------------------------------------------------- differential check

DSIG = "{http://www.w3.org/2000/09/xmldsig#}"
#: Values that exercise lengths (25/65/155 limits), code lists, dates and the institution ID.
PROBES = (
    "",
    "A" * 26,
    "A" * 66,
    "A" * 156,
    "01",
    "04",
    "98",
    "99",
    "EU",
    "XK",
    "YUCS",
    "2024-02-30",
    "2024-02-29",
    "LU:CNS",
    "EU:ABCD",
    "LU:ABCDEFGHIJK",
)


def _mutants(xml: str) -> list[tuple[str, str]]:
    """(description, document) for every element removed and every leaf given every probe."""

    def parse() -> tuple[etree._Element, list[etree._Element]]:
        doc = etree.fromstring(xml.encode(), _parser())
        return doc, list(doc.iter())

    base, elements = parse()
    tree = base.getroottree()
    out: list[tuple[str, str]] = []
    for i, e in enumerate(elements):
        if e is base or any(str(a.tag).startswith(DSIG) for a in e.iterancestors()):
            continue
        path = tree.getpath(e)
        doc, copy = parse()
        parent = copy[i].getparent()
        assert parent is not None
        parent.remove(copy[i])
        out.append((f"remove {path}", etree.tostring(doc, encoding="unicode")))
        if len(e) == 0 and not str(e.tag).startswith(DSIG):
            for probe in PROBES:
                doc, copy = parse()
                copy[i].text = probe
                out.append((f"{path} = {probe!r}", etree.tostring(doc, encoding="unicode")))
    return out


@pytest.mark.parametrize("name", ["S071 maximal", "S041 maximal"])
def test_ours_and_the_official_schema_agree_on_every_single_mutation(name: str) -> None:
    """Remove each element, or put each probe value in each leaf: both schemas must give the
    same verdict. This is what makes "valid against ours" mean "valid against the official"."""
    code, build = VALID[name]
    mine, theirs = ours(code), official(code)
    disagreements = []
    for what, doc in _mutants(build()):
        if (errors(mine, doc) == []) != (errors(theirs, doc) == []):
            disagreements.append(what)
    assert disagreements == []
