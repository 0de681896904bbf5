"""Readers: migration text -> statements (with locations and directives) -> operations."""
