"""``migspec verify``: prove a plan's claims on a scratch PostgreSQL under concurrent writes.

Modules: ``target`` (the embedded throwaway server, or a user's scratch DSN checked against
production's system identifier), ``schema`` (the pre-migration schema), ``data`` (synthetic rows
that respect types, NOT NULL, uniqueness and foreign keys), ``writers`` (concurrent writer load
with per-operation latency), ``trace`` (pg_locks sampling, own-transaction lock capture,
relfilenode, catalog snapshots), ``changes`` (what the plan's SQL adds, drops, renames or
truncates), ``runner`` (the orchestration) and ``report`` (text, json, calibration file).
"""

from migspec.verify.report import FORMATS, RENDERERS, VerifyResult, calibration_yaml
from migspec.verify.runner import VerifyInput, VerifyOptions, prepare, verify

__all__ = ["FORMATS", "RENDERERS", "VerifyInput", "VerifyOptions", "VerifyResult", "calibration_yaml", "prepare",
           "verify"]
