"""Elements of value (Almquist, Senior, Bloch, HBR 2016; B2B: Almquist, Cleghorn, Sherer 2018)."""

from __future__ import annotations

B2C_ELEMENTS: dict[str, tuple[str, ...]] = {
    "functional": (
        "saves_time", "simplifies", "makes_money", "reduces_risk", "organizes", "integrates",
        "connects", "reduces_effort", "avoids_hassles", "reduces_cost", "quality", "variety",
        "sensory_appeal", "informs",
    ),
    "emotional": (
        "reduces_anxiety", "rewards_me", "nostalgia", "design_aesthetics", "badge_value",
        "wellness", "therapeutic_value", "fun_entertainment", "attractiveness", "provides_access",
    ),
    "life_changing": (
        "provides_hope", "self_actualization", "motivation", "heirloom",
        "affiliation_and_belonging",
    ),
    "social_impact": ("self_transcendence",),
}

B2B_ELEMENTS: dict[str, tuple[str, ...]] = {
    "table_stakes": (
        "meeting_specifications", "acceptable_price", "regulatory_compliance", "ethical_standards",
    ),
    "functional": (
        "improved_top_line", "cost_reduction", "product_quality", "scalability", "innovation",
    ),
    "ease_of_doing_business": (
        "time_savings", "reduced_effort", "decreased_hassles", "information", "transparency",
        "organization", "simplification", "connection", "integration", "availability", "variety",
        "configurability", "responsiveness", "expertise", "commitment", "stability",
        "cultural_fit", "risk_reduction", "reach", "flexibility", "component_quality",
    ),
    "individual": (
        "network_expansion", "marketability", "reputational_assurance", "design_and_aesthetics",
        "growth_and_development", "reduced_anxiety", "fun_and_perks",
    ),
    "inspirational": ("vision", "hope", "social_responsibility"),
}


def element_names(kind: str) -> frozenset[str]:
    """All element identifiers of the B2C or B2B list."""
    table = B2B_ELEMENTS if kind == "b2b" else B2C_ELEMENTS
    return frozenset(name for names in table.values() for name in names)


# An element is perceived when the customer says we did it well: 4 or 5 on the 1-5 scale of
# an elements_of_value question ("How well did we do on these?").
PERCEIVED_AT = 4
# NPS by the number of elements a customer perceives: the counts from this many up are one
# group, so that the last groups are not a handful of customers each.
COUNT_CAP = 5


def table_of(kind: str) -> dict[str, tuple[str, ...]]:
    return B2B_ELEMENTS if kind == "b2b" else B2C_ELEMENTS


def ordered(kind: str) -> tuple[str, ...]:
    """The elements of the B2C or B2B list in the pyramid's order, from the base up."""
    return tuple(name for names in table_of(kind).values() for name in names)


def level_of(element: str, kind: str) -> str | None:
    """The pyramid level of an element (functional, emotional, ...), None if not listed."""
    return next((level for level, names in table_of(kind).items() if element in names), None)


def perceived(answer: int) -> bool:
    return answer >= PERCEIVED_AT


def count_group(perceived_count: int, cap: int = COUNT_CAP) -> str:
    """The group of a customer who perceives `perceived_count` elements: "0", "1", ...,
    and "5+" from the cap up."""
    return f"{cap}+" if perceived_count >= cap else str(perceived_count)


def count_groups(cap: int = COUNT_CAP) -> tuple[str, ...]:
    return (*(str(k) for k in range(cap)), f"{cap}+")


# Each element's name in Finnish and English (Bain's English names).
_LABELS = """
saves_time|Säästää aikaa|Saves time
simplifies|Yksinkertaistaa|Simplifies
makes_money|Tuottaa rahaa|Makes money
reduces_risk|Vähentää riskiä|Reduces risk
organizes|Järjestää|Organizes
integrates|Yhdistää osat|Integrates
connects|Yhdistää ihmisiä|Connects
reduces_effort|Vähentää vaivaa|Reduces effort
avoids_hassles|Välttää harmit|Avoids hassles
reduces_cost|Alentaa kustannuksia|Reduces cost
quality|Laatu|Quality
variety|Valikoima|Variety
sensory_appeal|Aistittava vetovoima|Sensory appeal
informs|Informoi|Informs
reduces_anxiety|Vähentää huolta|Reduces anxiety
rewards_me|Palkitsee|Rewards me
nostalgia|Nostalgia|Nostalgia
design_aesthetics|Muotoilu ja estetiikka|Design/aesthetics
badge_value|Statusarvo|Badge value
wellness|Hyvinvointi|Wellness
therapeutic_value|Terapeuttinen arvo|Therapeutic value
fun_entertainment|Hauskuus ja viihde|Fun/entertainment
attractiveness|Viehättävyys|Attractiveness
provides_access|Antaa pääsyn|Provides access
provides_hope|Antaa toivoa|Provides hope
self_actualization|Itsensä toteuttaminen|Self-actualization
motivation|Motivaatio|Motivation
heirloom|Perintöarvo|Heirloom
affiliation_and_belonging|Yhteenkuuluvuus|Affiliation and belonging
self_transcendence|Itsensä ylittäminen|Self-transcendence
meeting_specifications|Vaatimusten täyttäminen|Meeting specifications
acceptable_price|Hyväksyttävä hinta|Acceptable price
regulatory_compliance|Säädösten noudattaminen|Regulatory compliance
ethical_standards|Eettiset periaatteet|Ethical standards
improved_top_line|Kasvattaa liikevaihtoa|Improved top line
cost_reduction|Kustannussäästö|Cost reduction
product_quality|Tuotteen laatu|Product quality
scalability|Skaalautuvuus|Scalability
innovation|Innovatiivisuus|Innovation
time_savings|Ajansäästö|Time savings
reduced_effort|Vähemmän vaivaa|Reduced effort
decreased_hassles|Vähemmän harmia|Decreased hassles
information|Tieto|Information
transparency|Läpinäkyvyys|Transparency
organization|Järjestelmällisyys|Organization
simplification|Yksinkertaistaminen|Simplification
connection|Yhteydet|Connection
integration|Integraatio|Integration
availability|Saatavuus|Availability
configurability|Muokattavuus|Configurability
responsiveness|Reagointikyky|Responsiveness
expertise|Asiantuntemus|Expertise
commitment|Sitoutuminen|Commitment
stability|Vakaus|Stability
cultural_fit|Kulttuurinen sopivuus|Cultural fit
risk_reduction|Riskin pienentäminen|Risk reduction
reach|Ulottuvuus|Reach
flexibility|Joustavuus|Flexibility
component_quality|Komponenttien laatu|Component quality
network_expansion|Verkoston laajentaminen|Network expansion
marketability|Markkinoitavuus|Marketability
reputational_assurance|Maineen turvaaminen|Reputational assurance
design_and_aesthetics|Muotoilu ja estetiikka|Design and aesthetics
growth_and_development|Kasvu ja kehittyminen|Growth and development
reduced_anxiety|Vähemmän huolta|Reduced anxiety
fun_and_perks|Hauskuus ja edut|Fun and perks
vision|Visio|Vision
hope|Toivo|Hope
social_responsibility|Yhteiskuntavastuu|Social responsibility
"""
LABELS: dict[str, dict[str, str]] = {
    ident: {"fi": fi, "en": en}
    for ident, fi, en in (line.split("|") for line in _LABELS.strip().splitlines())}


def label(element: str, language: str) -> str:
    """The element's name in `language` (fi or en), its id when it has none."""
    names = LABELS.get(element)
    return names.get(language, names["en"]) if names else element
