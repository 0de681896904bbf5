"""Render a lint report as text, json, github (workflow commands) or sarif (2.1.0)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from json.encoder import encode_basestring_ascii as _escape  # json.dumps's own string escaper (C)
from typing import Any

from migspec import __version__
from migspec.estimate.model import format_duration, format_range
from migspec.lint import Finding, Report
from migspec.render.layout import PLAIN_WIDTH, Block, Para, Segment, Sql, layout, para, plain
from migspec.risk import Risk
from migspec.rules import all_rules

FORMATS = ("text", "json", "github", "sarif")


def table_lines(report: Report) -> list[str]:
    """``TABLE SIZE: <rows> - WRITE QPS: <qps>`` per pre-existing table touched (the brief's shape)."""
    return ["".join(text for text, _ in segments) for segments in _table_segments(report)]


def _table_segments(report: Report) -> list[list[Segment]]:
    lines = []
    for name in report.tables:
        ts = report.stats.table(name)
        rows = f"{ts.rows:,}" if ts.rows is not None else "unknown"
        qps = f"{ts.write_qps:g}" if ts.write_qps is not None else "unknown"
        lines.append([("TABLE SIZE: ", "heading"), (rows, "estimate"), (" - ", ""), ("WRITE QPS: ", "heading"),
                      (qps, "estimate"), (f"  ({name})", "")])
    return lines


def table_blocks(report: Report) -> list[Block]:
    return [Para(tuple(line), 0, 4) for line in _table_segments(report)]


def _source(report: Report) -> str:
    s = report.stats
    if not s.tables:
        return "no measurements needed"
    when = f", collected {s.collected_at}" if s.collected_at else ""
    return f"{s.source or 'unstated source'}{when} ({s.origin})"


def risk_segment(risk: Risk, suffix: str = "") -> Segment:
    return (f"{risk}{suffix}", f"risk.{risk}")


def text_blocks(report: Report) -> list[Block]:
    """The text format as layout blocks: the measurements once per table at the top, then per
    statement its SQL, lock, estimate and stall once, and each finding's why and instead."""
    out: list[Block] = [para(("MIGRATION: ", "heading"), report.migration.name),
                        para(("RISK: ", "heading"), risk_segment(report.risk))]
    out += table_blocks(report)
    out.append(para(("TARGET: ", "heading"), f"PostgreSQL {report.version} - ", ("STATS: ", "heading"), _source(report)))
    out += [para(("NOTE: ", "note"), n) for n in report.notes]
    findings = report.findings
    if not findings:
        out += [para(""), para(f"No findings: {len(report.results)} operation(s), all GREEN.")]
        return out
    shown: set[tuple[str, str]] = set()
    for f in findings:
        out.append(para(""))
        tag = risk_segment(f.risk, " (allowed)" if f.suppressed else "")
        out.append(para((f"{f.location}: ", "location"), tag, (f" [{f.rule}]", "rule"),
                        f" {f.operation}" + (f" on {f.table}" if f.table else ""), hang=4))
        key = (str(f.location), f.statement)
        if key in shown:
            out.append(para(("why: ", "label"), f.why or f.message, "  (statement, lock and estimate: above)",
                            indent=4, hang=8))
        else:
            shown.add(key)
            if f.origin:
                out.append(para(("in: ", "label"), f.origin, indent=4, hang=8))
            out.append(Sql(f.statement.strip().rstrip(";") + ";", 4, (("sql: ", "label"),)))
            lock = [(f.lock.sql_name, "lock"), (f" ({f.lock.blocks})", "")] if f.lock else [("no table lock", "")]
            work = ", rewrites table" if f.rewrites_table else (", scans table" if f.scans_table else "")
            est: list[Segment] = [] if f.estimate_seconds <= 0.01 else \
                [(", est. ", ""), (format_range(f.estimate_low_seconds, f.estimate_seconds), "estimate")]
            out.append(para(("lock: ", "label"), *lock, work, *est, indent=4, hang=8))
            out += [para(("cost: ", "label"), c, indent=4, hang=8) for c in f.cost]
            out.append(para(("why: ", "label"), f.why or f.message, indent=4, hang=8))
        out.append(para(("instead: ", "label"), f.alternative, indent=4, hang=8))
        if f.suppressed:
            out.append(para(("allowed: ", "label"), f.suppressed, indent=4, hang=8))
    counts = {r: sum(1 for f in findings if f.risk == r and not f.suppressed) for r in Risk}
    allowed = sum(1 for f in findings if f.suppressed)
    out.append(para(""))
    out.append(para(f"{len(findings)} finding(s): ", (f"{counts[Risk.RED]} RED", "risk.RED"),
                    ", ", (f"{counts[Risk.YELLOW]} YELLOW", "risk.YELLOW"), ", ",
                    (f"{counts[Risk.GREEN]} GREEN", "risk.GREEN"), f", {allowed} allowed" if allowed else ""))
    return out


def render_text(report: Report, width: int = PLAIN_WIDTH) -> str:
    return plain(layout(text_blocks(report), width))


def _seconds(value: float) -> float | None:
    """Seconds for JSON: an unknown duration (infinite) is null, since JSON has no Infinity."""
    return round(value, 3) if math.isfinite(value) else None


def finding_dict(f: Finding, location: str | None = None) -> dict[str, Any]:
    """``location``: ``str(f.location)`` when the caller has it already."""
    return {"rule": f.rule, "location": location or str(f.location), "statement": f.statement,
            "kind": f.operation, "table": f.table, "risk": f.risk._name_, "lock": f.lock.sql_name if f.lock else None,
            "rewrites_table": f.rewrites_table, "scans_table": f.scans_table, "message": f.message,
            "alternative": f.alternative, "estimate_seconds": _seconds(f.estimate_seconds),
            "estimate_low_seconds": None if f.estimate_low_seconds is None else _seconds(f.estimate_low_seconds),
            "suppressed": f.suppressed, **({"origin": f.origin} if f.origin else {})}


def report_dict(report: Report) -> dict[str, Any]:
    # One pass over the results builds both lists (report.findings is the results' findings in
    # order); what a statement's findings share with it is computed once, and each name or
    # estimate object is formatted once (keyed by id: they live as long as the report). Issue 16:
    # this function was a quarter of `lint --format json` on 10,000 statements.
    ops: list[dict[str, Any]] = []
    findings: list[dict[str, Any]] = []
    estimates: dict[int, tuple[float | None, float | None]] = {}  # id(Estimate) -> (high, low), rounded
    names: dict[int, str] = {}  # id(QualifiedName) -> str()
    worst = Risk.GREEN
    for r in report.results:
        item, a = r.item, r.assessment
        stmt, effect, table = item.stmt, item.effect, item.op.table
        location = str(stmt.location)
        strongest = effect.strongest
        hold = a.hold
        rounded = estimates.get(id(hold))
        if rounded is None:
            rounded = estimates[id(hold)] = (_seconds(hold.seconds), _seconds(hold.low))
        locks = []
        for lk in effect.locks:
            relation = names.get(id(lk.relation))
            if relation is None:
                relation = names[id(lk.relation)] = str(lk.relation)
            locks.append({"relation": relation, "mode": lk.mode.sql_name, "role": lk.role})
        table_text = None
        if table is not None:
            table_text = names.get(id(table))
            if table_text is None:
                table_text = names[id(table)] = str(table)
        risk = Risk.GREEN
        messages = []
        rules = []
        for f in r.findings:
            findings.append(finding_dict(f, location if f.location is stmt.location else None))
            if not f.suppressed and f.risk > risk:
                risk = f.risk
            messages.append(f.message)
            rules.append(f.rule)
        if risk > worst:
            worst = risk
        ops.append({
            "statement": stmt.sql, "location": location, "kind": item.op.kind,
            "table": table_text, "risk": risk._name_,
            "lock": strongest.sql_name if strongest else None, "locks": locks,
            "rewrites_table": effect.rewrites_table, "scans_table": effect.scans_table,
            "estimate_seconds": rounded[0], "estimate_low_seconds": rounded[1],
            "stall_seconds": _seconds(a.stall_seconds), "rules": rules,
            "message": "; ".join(messages) or "; ".join(a.reasons),
        })
    return {**_report_head(report, worst), "operations": ops, "findings": findings, "notes": list(report.notes)}


def _report_head(report: Report, worst: Risk) -> dict[str, Any]:
    """The report's fields before its operations (``worst``: the risk of the worst operation)."""
    s = report.stats
    return {
        "migration": report.migration.name, "risk": worst._name_, "pg_version": report.version,
        "stats": {"source": s.source, "collected_at": s.collected_at, "origin": s.origin,
                  "production": s.from_production, "maintenance_window": s.maintenance_window},
        "tables": [{"name": str(n), "rows": s.table(n).rows, "write_qps": s.table(n).write_qps,
                    "size_bytes": s.table(n).size_bytes, "source": s.source} for n in report.tables],
    }


_BOOL = {True: "true", False: "false"}


class _Escaped(dict):  # type: ignore[type-arg]
    """Strings (and None) as JSON, each distinct text escaped once, on first lookup: a plain
    subscript, no call per value (130,000 lookups on 10,000 statements)."""

    def __missing__(self, value: str) -> str:
        out = self[value] = _escape(value)
        return out


def _seconds_json(value: float) -> str:
    """``_seconds(value)`` as json.dumps writes it: a finite number is its repr."""
    return repr(round(value, 3)) if math.isfinite(value) else "null"


def _seconds_memo() -> Callable[[float], str]:
    """``_seconds_json`` remembered per value (round() and repr() were 20 ms of the 10,000-statement
    report): only for positive floats - equal values then have equal reprs, where 0.0 and -0.0, or
    1 and 1.0, would be mixed up."""
    memo: dict[float, str] = {}

    def seconds(value: float) -> str:
        if type(value) is float and value > 0:
            out = memo.get(value)
            if out is None:
                out = memo[value] = _seconds_json(value)
            return out
        return _seconds_json(value)

    return seconds


def render_json(report: Report) -> str:
    """``json.dumps(report_dict(report))`` and a newline, byte for byte (tests/test_render.py
    compares them), written as text directly: building the dicts and json's encoding of every key
    and value took ~0.25 s of ``lint --format json`` on 10,000 statements (6,300 findings, 15 MB of
    JSON), this ~0.06 s (issue 16). Each distinct text is escaped once (a statement's SQL and each
    finding's message are written two or more times), by json's own C escaper, and numbers are
    written by the repr json.dumps uses, so the bytes cannot drift apart."""
    text = _Escaped({None: "null"})
    seconds = _seconds_memo()
    ops: list[str] = []
    findings: list[str] = []
    estimates: dict[int, tuple[str, str]] = {}  # id(Estimate) -> (high, low) as JSON
    names: dict[int, str] = {}  # id(QualifiedName) -> its JSON (the report keeps them alive)
    worst = Risk.GREEN
    for r in report.results:
        item, a = r.item, r.assessment
        op = item.op
        stmt, effect = op.stmt, item.effect
        where = stmt.location  # str(where) is "file:line:col": the file's text escaped once per file
        location = f'{text[where.file][:-1]}:{where.line}:{where.col}"'
        sql = text[stmt.sql]
        strongest, work = a.lock, effect.work  # (the assessment's lock: the effect's strongest)
        hold = a.hold
        rounded = estimates.get(id(hold))
        if rounded is None:
            rounded = estimates[id(hold)] = (seconds(hold.seconds), seconds(hold.low))
        locks = []
        for lk in effect.locks:
            relation = names.get(id(lk.relation))
            if relation is None:
                relation = names[id(lk.relation)] = _escape(str(lk.relation))
            locks.append(f'{{"relation": {relation}, "mode": {text[lk.mode.sql_name]}, "role": {text[lk.role]}}}')
        table = "null"
        if op.table is not None:
            table = names.get(id(op.table))
            if table is None:
                table = names[id(op.table)] = _escape(str(op.table))
        risk = Risk.GREEN
        messages = []
        rules = []
        for f in r.findings:
            low = f.estimate_low_seconds
            escaped, rule = text[f.message], text[f.rule]
            findings.append(
                f'{{"rule": {rule}, '
                f'"location": {location if f.location is stmt.location else _escape(str(f.location))}, '
                f'"statement": {text[f.statement]}, "kind": {text[f.operation]}, "table": {text[f.table]}, '
                f'"risk": "{f.risk._name_}", "lock": {text[f.lock.sql_name] if f.lock else "null"}, '
                f'"rewrites_table": {_BOOL[f.rewrites_table]}, "scans_table": {_BOOL[f.scans_table]}, '
                f'"message": {escaped}, "alternative": {text[f.alternative]}, '
                f'"estimate_seconds": {seconds(f.estimate_seconds)}, '
                f'"estimate_low_seconds": {"null" if low is None else seconds(low)}, '
                f'"suppressed": {text[f.suppressed]}' + (f', "origin": {text[f.origin]}}}' if f.origin else "}"))
            if not f.suppressed and f.risk > risk:
                risk = f.risk
            messages.append(escaped)
            rules.append(rule)
        if risk > worst:
            worst = risk
        if len(messages) == 1 and messages[0] != '""':
            message = messages[0]
        elif len(messages) > 1:  # escaping is per character: join the escaped texts, without their quotes
            message = '"' + "; ".join([m[1:-1] for m in messages]) + '"'
        else:
            message = _escape("; ".join(a.reasons))
        ops.append(
            f'{{"statement": {sql}, "location": {location}, "kind": {text[op.kind]}, "table": {table}, '
            f'"risk": "{risk._name_}", "lock": {text[strongest.sql_name] if strongest else "null"}, '
            f'"locks": [{", ".join(locks)}], '
            f'"rewrites_table": {_BOOL[work.rewrites]}, "scans_table": {_BOOL[work.scans]}, '
            f'"estimate_seconds": {rounded[0]}, "estimate_low_seconds": {rounded[1]}, '
            f'"stall_seconds": {seconds(a.stall_seconds)}, "rules": [{", ".join(rules)}], "message": {message}}}')
    head = json.dumps(_report_head(report, worst), check_circular=False)
    # One join: the document is built once (15 MB on 10,000 statements), not copied piece by piece.
    return "".join((head[:-1], ', "operations": [', ", ".join(ops), '], "findings": [', ", ".join(findings),
                    f'], "notes": {json.dumps(list(report.notes))}}}\n'))


_GH_LEVEL = {Risk.RED: "error", Risk.YELLOW: "warning", Risk.GREEN: "notice"}


def _gh_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def render_github(report: Report) -> str:
    lines = []
    for f in report.findings:
        if f.suppressed:
            continue
        props = f"file={_gh_escape(f.location.file, True)},line={f.location.line},col={f.location.col}," \
                f"title={_gh_escape(f'{f.risk} {f.rule}', True)}"
        lines.append(f"::{_GH_LEVEL[f.risk]} {props}::{_gh_escape(f.message + ' Instead: ' + f.alternative)}")
    lines.append(f"migspec: {report.migration.name} is {report.risk}")
    return "\n".join(lines) + "\n"


_SARIF_LEVEL = {Risk.RED: "error", Risk.YELLOW: "warning", Risk.GREEN: "note"}


def render_sarif(report: Report) -> str:
    from urllib.parse import quote  # here: only SARIF needs it (~2 ms at every start, issue 16)

    rules = [{"id": r.name, "name": r.name, "shortDescription": {"text": r.summary()},
              "fullDescription": {"text": r.section("Why") or r.summary()},
              "help": {"text": r.section("Use instead")}} for r in all_rules()]
    results = []
    for f in report.findings:
        result: dict[str, Any] = {
            "ruleId": f.rule, "level": _SARIF_LEVEL[f.risk],
            "message": {"text": (f"{f.origin}: " if f.origin else "") + f"{f.message} Instead: {f.alternative}"},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": quote(f.location.file)},
                                                "region": {"startLine": f.location.line,
                                                           "startColumn": f.location.col}}}],
            "properties": {"risk": str(f.risk), "lock": f.lock.sql_name if f.lock else None,
                           "rewrites_table": f.rewrites_table, "estimate_seconds": _seconds(f.estimate_seconds)},
        }
        if f.suppressed:
            result["suppressions"] = [{"kind": "inSource", "justification": f.suppressed}]
        results.append(result)
    doc = {"version": "2.1.0", "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
           "runs": [{"tool": {"driver": {"name": "migspec", "version": __version__, "rules": rules}},
                     "results": results}]}
    return json.dumps(doc, indent=2) + "\n"


RENDERERS = {"text": render_text, "json": render_json, "github": render_github, "sarif": render_sarif}
