"""Render a Plan: ``text`` in the brief's shape, ``markdown`` with a mermaid timeline, ``json``
(the documented contract), and ``--out DIR`` files that psql runs in order."""

from __future__ import annotations

import re
from pathlib import Path

from migspec import planfile
from migspec.estimate.throughput import format_duration
from migspec.lint import Report
from migspec.planfile.model import Phase, PhaseName, Plan, Runbook, Step
from migspec.errors import InputError
from migspec.planfile.sql import guarded, guarded_statements
from migspec.render.layout import PLAIN_WIDTH, Block, Segment, Sql, layout, para, plain
from migspec.render.lint import risk_segment, table_blocks, table_lines

FORMATS = ("text", "markdown", "json")


def _est(text: str, report: Report) -> str:
    """An estimate (its range), labelled when the measurements behind it are not production's."""
    label = "" if report.stats.from_production or not report.stats.tables else \
        f" (from {report.stats.source or 'unlabelled'} stats, not production)"
    return text + label


def _summary(phase: Phase, report: Report) -> str:
    names = [s.description.split(" (")[0] for s in phase.steps if not s.manual] or \
        [s.description.split(" (")[0].split(":")[0] for s in phase.steps]  # a phase of human steps only
    head = "; ".join(names[:3]) + (f"; +{len(names) - 3} more" if len(names) > 3 else "")
    if phase.name is PhaseName.EXPAND:
        return f"{head} - est: {_est(phase.estimate_text, report)} - reversible: {'yes' if phase.reversible else 'no'}"
    if phase.name is PhaseName.MIGRATE:
        batches = [s.batch_size for s in phase.steps if s.batch_size]
        batch = f"{max(batches):,}" if batches else "none"
        return f"{head} - batch: {batch} - est: {_est(phase.estimate_text, report)}"
    return f"{head} - after: {phase.after}"


def _step_sql(step: Step) -> str:
    if step.manual:
        return ""
    if step.transactional:
        return guarded(step.up, step.lock_timeout_s, step.statement_timeout_s)
    return "\n".join(s.rstrip(";") + ";" for s in step.up)


def _meta(step: Step, report: Report) -> list[Segment]:
    meta: list[Segment] = []
    if step.lock:
        meta.append((step.lock.sql_name, "lock"))
    if step.estimate_seconds > 0.01:
        meta.append((f"est {_est(step.estimate_text, report)}", "estimate"))
    if step.batch_size:
        meta.append((f"batch {step.batch_size:,}", ""))
    if step.lock_timeout_s:
        meta.append((f"lock_timeout {step.lock_timeout_s:g}s", ""))
    if not step.transactional and not step.manual:
        meta.append(("outside a transaction", ""))
    if step.requires_confirmation:
        meta.append((f"CONFIRM {step.requires_confirmation}", "confirm"))
    if not meta:
        return []
    out: list[Segment] = [(" [", "")]
    for k, m in enumerate(meta):
        out += [(", ", "")] if k else []
        out.append(m)
    return out + [("]", "")]


def statement(sql: str) -> str:
    """A statement as psql takes it: its own text (line breaks kept), ended by one semicolon."""
    return sql.strip().rstrip(";").rstrip() + ";"


def note(text: str) -> str:
    """A note where SQL would be: a comment on lines of its own, so it cannot swallow a statement."""
    return "\n".join(f"-- {line}" for line in re.split(r"\r\n|\r|\n", text))


_QUERY = re.compile(r"^(?:(?P<label>[^:]*[^:\s]): )?(?P<sql>(?:SELECT|WITH)\b.*)$", re.S)


def _runbook_item(item: str, indent: int) -> list[Block]:
    """A runbook line; its query (a pre-check's or post-verify's SELECT) laid out as SQL."""
    m = _QUERY.match(item)
    if not m:
        return [para("- ", item, indent=indent, hang=indent + 2)]
    if not m["label"]:
        return [Sql(m["sql"], indent, (("- ", ""),))]
    return [para("- ", f"{m['label']}:", indent=indent, hang=indent + 2), Sql(m["sql"], indent + 2)]


def runbook_blocks(rb: Runbook) -> list[Block]:
    """The RUNBOOK section of the text format (schema and upgrade plans)."""
    out: list[Block] = [para(("RUNBOOK:", "heading"))]
    for title, items in (("pre-check", rb.pre_check), ("cutover", rb.cutover),
                         ("rollback trigger", rb.rollback_trigger), ("post-verify", rb.post_verify)):
        out.append(para(f"{title}:", indent=2))
        for item in items:
            out += _runbook_item(item, 4)
    return out


def text_blocks(plan: Plan, report: Report) -> list[Block]:
    """The text format (the brief's shape) as layout blocks: every statement whole, one per line group."""
    out: list[Block] = [para(("MIGRATION: ", "heading"), plan.migration),
                        para(("RISK: ", "heading"), risk_segment(plan.risk)),
                        para(("ROLLBACK RISK: ", "heading"), risk_segment(plan.rollback_risk))]
    out += table_blocks(report)
    out.append(para(("PHASES:", "heading")))
    if not plan.phases:
        out.append(para("(nothing to do)", indent=2))
    for i, phase in enumerate(plan.phases, 1):
        out.append(para((f"{i}. {phase.name.value.upper()}", "heading"), f" - {_summary(phase, report)}",
                        indent=2, hang=5))
        for j, step in enumerate(phase.steps, 1):
            out.append(para(f"{i}.{j} {step.description}", *_meta(step, report), indent=5, hang=9))
            out += [Sql(statement(sql), 9, (("UP: ", "label"),)) for sql in step.up]
    out.append(para(("ROLLBACK:", "heading"), " per phase, the last phase first; in a phase, its steps' DOWN from the "
                    "last step back (psql files: --out DIR; the whole plan: --format json)", hang=2))
    for i, phase in reversed(list(enumerate(plan.phases, 1))):
        out.append(para((f"{phase.name.value.upper()}:", "heading"), indent=2))
        downs: list[Block] = []
        for j, step in reversed(list(enumerate(phase.steps, 1))):
            statements = [statement(d) for d in step.down] or ([note(step.down_note)] if step.down_note else [])
            label = f"{i}.{j} "
            downs += [Sql(sql, 4, ((label if k == 0 else " " * len(label), "label"),))
                      for k, sql in enumerate(statements)]
        out += downs or [para("nothing to undo", indent=4)]
    out += runbook_blocks(plan.runbook)
    if plan.confirmations:
        out.append(para(("CONFIRMATIONS:", "heading")))
        for c in plan.confirmations:
            state: Segment = (f"confirmed ({c.reason})", "") if c.confirmed and c.reason else \
                ("confirmed", "") if c.confirmed else (f"NOT confirmed - pass --confirm {c.target}", "confirm")
            out.append(para(f"- {c.operation} {c.target}: ", state, indent=2, hang=4))
    out += [para(("NOTE: ", "note"), note, hang=4) for note in plan.notes]
    out.append(para(("HANDOFF: ", "heading"), plan.handoff, hang=4))
    return out


def render_text(plan: Plan, report: Report, width: int = PLAIN_WIDTH) -> str:
    return plain(layout(text_blocks(plan, report), width))


def render_json(plan: Plan, report: Report) -> str:
    """The plan file (migspec.planfile owns its format)."""
    return planfile.dumps(plan, report)


def render_markdown(plan: Plan, report: Report) -> str:
    out = [f"# Migration plan: {plan.migration}", "", f"**Risk: {plan.risk}** (rollback: {plan.rollback_risk}) - PostgreSQL {plan.pg_version}", ""]
    out += [f"- {line}" for line in table_lines(report)]
    out += ["", "```mermaid", "timeline", f"    title {plan.migration}"]
    for p in plan.phases:
        when = f" (after {p.after})" if p.after else ""
        out.append(f"    {p.name.value.upper()}{when} : est {p.estimate_text}")
        for s in p.steps:
            out.append(f"        : {s.description.split(' (')[0].replace(':', ' -')}")
    out += ["```", ""]
    for i, p in enumerate(plan.phases, 1):
        out += [f"## {i}. {p.name.value.upper()}", "", _summary(p, report), ""]
        for j, s in enumerate(p.steps, 1):
            out.append(f"### {i}.{j} {s.description}")
            out.append("")
            if s.manual:
                out += ["Manual step." + (f" Needs confirmation of `{s.requires_confirmation}`." if s.requires_confirmation else ""), ""]
                continue
            out += ["UP:", "```sql", _step_sql(s), "```", "DOWN:", "```sql",
                    "\n".join(d.rstrip(";") + ";" for d in s.down) or f"-- {s.down_note or 'nothing to undo'}", "```", ""]
    out += ["## Runbook", ""]
    rb = plan.runbook
    for title, items in (("Pre-check", rb.pre_check), ("Cutover", rb.cutover),
                         ("Rollback trigger", rb.rollback_trigger), ("Post-verify", rb.post_verify)):
        out += [f"**{title}**", ""] + [f"- {x}" for x in items] + [""]
    out += [f"> NOTE: {n}" for n in plan.notes]
    out += ["", f"**HANDOFF:** {plan.handoff}", ""]
    return "\n".join(out)


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}


def _comment(text: str) -> str:
    """``text`` as SQL line comments: every line of it, so a name or a description holding a line
    break cannot end the comment and put the rest on a line psql runs."""
    return "".join(f"-- {line}\n" for line in re.split(r"\r\n|\r|\n", text))


class UnsafeSqlError(InputError):
    """A plan whose SQL would not run as planned: nothing is written (exit 2)."""


def _parsed(sql: str) -> list[str]:
    """The statements pglast reads in ``sql``, each printed back in its canonical form."""
    from pglast import parse_sql
    from pglast.stream import RawStream

    return [RawStream()(stmt) for stmt in parse_sql(sql)]


def _checkstatement(sql: str) -> None:
    """``sql`` parses; a PL/pgSQL body in it (a DO block, a trigger function) parses too - a
    quote ended early leaves a body that does not."""
    from pglast import ast, parse_plpgsql, parse_sql
    from pglast.stream import RawStream

    for stmt in parse_sql(sql):
        if isinstance(stmt.stmt, (ast.DoStmt, ast.CreateFunctionStmt)):
            printed = RawStream()(stmt)
            if isinstance(stmt.stmt, ast.DoStmt) or re.search(r"\bLANGUAGE\s+plpgsql\b", printed, re.I):
                parse_plpgsql(printed)


def check_emittable(plan: Plan) -> None:
    """Every UP and DOWN statement of every step parses (pglast: PostgreSQL's own parser and
    PL/pgSQL's), so neither ``apply`` nor psql meets a statement other than the planned one."""
    from pglast.parser import ParseError

    for phase in plan.phases:
        for n, step in enumerate(phase.steps, 1):
            for sql in (*step.up, *step.down):
                try:
                    _checkstatement(sql)
                except (ParseError, RecursionError) as exc:
                    raise UnsafeSqlError(
                        f"{phase.name.value} step {n} ({' '.join(step.description.split())[:80]}): its SQL does not "
                        f"parse ({' '.join(str(exc).split())[:120]}); refusing to emit a plan that would not run as "
                        "planned") from None


def sql_files(plan: Plan) -> list[tuple[str, str]]:
    """``(NN_<phase>.up.sql | .down.sql, text)`` for every step, in run order, each proven to parse
    into exactly the step's statements (and the guard's BEGIN / SET LOCAL / COMMIT) and nothing
    else: a user's literal, name or description cannot end a quote or a comment early and smuggle
    in a statement."""
    check_emittable(plan)
    files: list[tuple[str, str]] = []
    n = 0
    for phase in plan.phases:
        for step in phase.steps:
            n += 1
            stem = f"{n:02d}_{phase.name.value}"
            header = _comment(step.description)
            if step.requires_confirmation:
                header += _comment(f"DESTRUCTIVE: run only after confirming {step.requires_confirmation}")
            for suffix, statements in (("up", step.up), ("down", step.down)):
                pieces: list[str] = []
                if suffix == "up" and step.manual:
                    body = _comment("manual step: no SQL")
                elif suffix == "down" and step.down_steps:  # each part as apply runs it
                    for part in step.down_steps:
                        pieces += guarded_statements(part.up, part.lock_timeout_s, part.statement_timeout_s) \
                            if part.transactional else [s.rstrip(";") for s in part.up]
                    body = "\n".join(p + ";" for p in pieces) + "\n"
                elif suffix == "down" and not statements:
                    body = _comment(step.down_note or "nothing to undo")
                else:
                    pieces = guarded_statements(statements, step.lock_timeout_s, step.statement_timeout_s) \
                        if step.transactional else [s.rstrip(";") for s in statements]
                    body = "\n".join(p + ";" for p in pieces) + "\n"
                name, text = f"{stem}.{suffix}.sql", header + body
                want = [s for p in pieces for s in _parsed(p)]
                try:
                    got = _parsed(text)
                except Exception:  # noqa: BLE001 - any failure to read it back is the same refusal
                    got = None
                if got != want:
                    raise UnsafeSqlError(f"{name}: the file would not run exactly the planned statements of "
                                         f"'{' '.join(step.description.split())[:80]}'; nothing written")
                files.append((name, text))
    return files


def write_files(plan: Plan, out_dir: Path) -> list[Path]:
    """``NN_<phase>.up.sql`` / ``NN_<phase>.down.sql``, one pair per step, numbered in run order,
    for ``psql -v ON_ERROR_STOP=1 -f``. DOWN files are numbered like their UP files; run them in
    reverse order. Every file is checked (sql_files) before the first is written."""
    files = sql_files(plan)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, text in files:
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
