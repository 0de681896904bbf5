"""Carrying out an approved plan: guarded DDL, the resumable backfill runner, the state table."""
