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
