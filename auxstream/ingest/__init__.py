"""Receivers that bring vendors' own events into Kafka (``acd.raw.<vendor>``)."""
