"""The internal form of an entity: what the broker works on and what the store persists.

It is independent of any @context: every name is an expanded IRI, so the same stored
entity can be rendered under whatever context a later request brings.

    Entity = {
        "id": "urn:ngsi-ld:Streetlight:0042",              # absolute URI
        "type": ["https://smartdatamodels.org/dataModel.Streetlight/Streetlight"],  # expanded, >= 1
        "scope": ["/Rennes/Nord"],                          # optional, list of scope strings
        "createdAt": "2026-11-28T10:00:00.000000Z",         # system attributes, UTC, always present
        "modifiedAt": "2026-11-28T10:00:00.000000Z",
        "attrs": {                                          # expanded attribute name -> instances
            "https://uri.etsi.org/ngsi-ld/default-context/powerState": [Instance, ...],
        },
    }

    Instance = {
        "type": one of ATTRIBUTE_TYPES,
        <main member>: the attribute's content, by type (MAIN_MEMBER below), JSON values verbatim;
        "datasetId": "urn:…",                 # absent for the default instance
        "observedAt": "…Z", "unitCode": "MTR", "objectType": <expanded IRI>,  # optional
        "lang": "fr",                         # optional (Property values that are strings)
        "createdAt": "…Z", "modifiedAt": "…Z",
        "attrs": {expanded name: Instance},   # sub-attributes, one instance each; optional
    }

Values (``value``, ``json``, ``valueList``, ``languageMap``) are kept as given: keys inside
JSON values are not expanded. ``vocab`` values are expanded IRIs (clause 4.5.19); ``object``
and ``objectList`` hold URIs as given.  At most one instance per (attribute, datasetId).
"""

from __future__ import annotations

from typing import Any

Entity = dict[str, Any]
Instance = dict[str, Any]

NGSI_LD = "https://uri.etsi.org/ngsi-ld/"

# The content member of each attribute type, as written in normalized form.
MAIN_MEMBER: dict[str, str] = {
    "Property": "value",
    "Relationship": "object",
    "GeoProperty": "value",
    "LanguageProperty": "languageMap",
    "VocabProperty": "vocab",
    "JsonProperty": "json",
    "ListProperty": "valueList",
    "ListRelationship": "objectList",
}
ATTRIBUTE_TYPES = frozenset(MAIN_MEMBER)

# The NGSI-LD Null (clause 4.5.0): in a merge, this value deletes what it addresses.
NGSI_LD_NULL = "urn:ngsi-ld:null"
