"""Renderers: a report in, text out. They only render; every fact comes from the report."""
