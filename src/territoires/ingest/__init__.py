"""Ingestion: device data reaching the broker from outside.

- ``uplinks``: ChirpStack v4 and The Things Stack v3 uplink JSON, parsed into one ``Uplink``
  form (and written, for the simulator).
- ``decoders``: one decoder per device kind, turning a LoRaWAN payload into Smart Data Models
  attribute values with UN/CEFACT units.
- ``simulator``: ``territoires simulate`` publishes realistic, labelled simulated uplinks.
"""
