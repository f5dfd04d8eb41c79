"""Guardrails: pattern rules and the output guard, PII redaction, and the screening decisions recorded for
moderators."""
