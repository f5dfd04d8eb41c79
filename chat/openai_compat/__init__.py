"""The OpenAI-compatible API under /v1: request parsing and the views the official SDK talks to."""
