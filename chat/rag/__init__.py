"""Grounding answers in documents and web pages: retrieval, source fencing, citations."""
