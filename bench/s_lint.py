"""1. Static speed: ``migspec lint`` vs ``squawk`` on a generated corpus, whole-process wall time,
plus where migspec's time goes (startup+imports / parse / analysis / rules / risk / render)."""

from __future__ import annotations

import json
import resource
import subprocess
import time
from pathlib import Path

import yaml

from common import BENCH, MIGSPEC, PYTHON, REPO, SQUAWK, fmt_ratio, fmt_s, log, median, run_env, timed_runs, wall
from corpus import write_corpus, write_small, write_stats

GOAL_SMALL_S = 0.100  # issue 16: one small file in under 100 ms, whole process

#: migspec before issue 16's speed work (pglast's Python nodes, every module imported up front):
#: measured in the same run from a checkout of this commit, so "before" and "after" share the load.
BEFORE_COMMIT = "e1cadb1"


def _before_src(work: Path) -> Path | None:
    """The source tree of BEFORE_COMMIT (a detached git worktree under ``work``), or None without git."""
    tree = work / "before"
    if not (tree / "src" / "migspec").is_dir():
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO, capture_output=True, check=False)
        p = subprocess.run(["git", "worktree", "add", "--detach", str(tree), BEFORE_COMMIT], cwd=REPO,
                           capture_output=True, text=True, check=False)
        if p.returncode != 0:
            log(f"no 'before' checkout of {BEFORE_COMMIT}: {p.stderr.strip()[-200:]}")
            return None
    return tree / "src"


def _timed(argv: list[str], env: dict[str, str] | None) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds - user + system of the process and its children -, exit code) of
    one run. CPU time is what the tool itself costs: on a loaded machine the wall time is mostly
    waiting for a core, and the load changes from one run to the next."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    took, rc = wall(argv, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return took, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), rc


def _count_migspec(path: Path) -> int:
    try:
        return len(json.loads(path.read_text())["findings"])
    except (ValueError, KeyError, OSError):
        return -1


def _count_squawk(path: Path) -> int:
    try:
        return len(json.loads(path.read_text() or "[]"))
    except (ValueError, OSError):
        return -1


def run(work: Path, *, statements: int, runs: int) -> dict:
    corpus = work / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    one = corpus / "one"
    many = corpus / "many"
    for d in (one, many):
        if d.exists():
            for f in d.glob("*.sql"):
                f.unlink()
    one_files = write_corpus(one, statements, 1)
    many_files = write_corpus(many, statements, 100)
    stats = write_stats(corpus / "stats.yaml")
    # The same stats as JSON, as `migspec measure -o stats.json` writes them: JSON needs no PyYAML.
    stats_json = corpus / "stats.json"
    stats_json.write_text(json.dumps(yaml.safe_load(stats.read_text()), default=lambda v: v.isoformat()))
    small = write_small(corpus / "small" / "0001_small.sql")

    cases = [
        (f"corpus, 1 file ({statements:,} statements)", "one", [str(p) for p in one_files], str(one)),
        (f"corpus, {len(many_files)} files", "many", [str(p) for p in many_files], str(many)),
        ("one small migration (5 statements)", "small", [str(small)], str(small)),
    ]
    before = _before_src(work)
    before_env = {**run_env(), "PYTHONPATH": str(before)} if before else None
    results = []
    for label, key, files, target in cases:
        row: dict = {"label": label, "key": key}
        tools = {
            "migspec_text": [MIGSPEC, "lint", target, "--stats", str(stats)],
            "migspec_json": [MIGSPEC, "lint", target, "--stats", str(stats), "--format", "json"],
            "squawk_tty": [SQUAWK, "--pg-version", "15.0", *files],
            "squawk_json": [SQUAWK, "--pg-version", "15.0", "--reporter", "json", *files],
        }
        if key == "small":
            tools["migspec_text_jsonstats"] = [MIGSPEC, "lint", target, "--stats", str(stats_json)]
        if before_env:
            tools["before_text"] = tools["migspec_text"]
            tools["before_json"] = tools["migspec_json"]
        # Round robin: run i of every tool back to back, so that all of them meet the same load on a
        # shared machine (one tool's runs in a row met minutes of another load than the next's).
        envs = {name: before_env if name.startswith("before_") else None for name in tools}
        for name, argv in tools.items():
            wall(argv, env=envs[name])  # warm-up: page cache, .pyc files
        times: dict[str, list[float]] = {name: [] for name in tools}
        cpu: dict[str, list[float]] = {name: [] for name in tools}
        codes: dict[str, int] = {}
        for _ in range(runs):
            for name, argv in tools.items():
                took, used, codes[name] = _timed(argv, envs[name])
                times[name].append(took)
                cpu[name].append(used)
        for name in tools:
            t = times[name]
            row[name] = {"median_s": median(t), "min_s": min(t), "runs": t, "rc": codes[name],
                         "cpu_median_s": median(cpu[name])}
            log(f"lint {key} {name}: median {median(t):.3f} s wall, {median(cpu[name]):.3f} s CPU over {runs} runs "
                f"(exit {codes[name]})")
        # Findings, from the machine-readable output of each tool (an untimed run).
        out = work / f"findings_{key}"
        with open(f"{out}.migspec.json", "w") as fh:
            subprocess.run(tools["migspec_json"], stdout=fh, stderr=subprocess.DEVNULL, check=False)
        with open(f"{out}.squawk.json", "w") as fh:
            subprocess.run(tools["squawk_json"], stdout=fh, stderr=subprocess.DEVNULL, check=False)
        row["migspec_findings"] = _count_migspec(Path(f"{out}.migspec.json"))
        row["squawk_findings"] = _count_squawk(Path(f"{out}.squawk.json"))
        for suffix in (".migspec.json", ".squawk.json"):
            Path(f"{out}{suffix}").unlink(missing_ok=True)
        results.append(row)

    # Where migspec's time goes: a fresh interpreter per case, timers around the library calls;
    # cProfile only on the corpus (its overhead would swamp the small case).
    phases = {}
    startup, _ = timed_runs([PYTHON, "-c", "pass"], runs)
    for label, key, files, target in cases[::2]:
        argv = [PYTHON, str(BENCH / "lint_phases.py"), target, "--stats", str(stats)]
        samples = []
        subprocess.run(argv, capture_output=True, check=False, env=run_env())  # warm-up
        for _ in range(max(3, runs)):
            t0 = time.perf_counter()
            p = subprocess.run(argv, capture_output=True, text=True, check=False, env=run_env())
            took = time.perf_counter() - t0
            if p.returncode != 0:
                log(f"lint_phases failed: {p.stderr[-500:]}")
                break
            sample = json.loads(p.stdout)
            sample["whole_s"] = took - sample["extra_s"]  # the process, minus what lint does not do
            samples.append(sample)
        prof = subprocess.run(argv + ["--profile"], capture_output=True, text=True, check=False, env=run_env())
        med = {k: median([s[k] for s in samples]) for k in samples[0] if isinstance(samples[0][k], float)} \
            if samples else {}
        med["statements"] = samples[0]["statements"] if samples else 0
        med["findings"] = samples[0]["findings"] if samples else 0
        if prof.returncode == 0:
            med["profile"] = json.loads(prof.stdout).get("profile")
        phases[key] = med
    # The same small-file run without .pyc files (PYTHONDONTWRITEBYTECODE=1, as this workplace sets).
    nopyc, _ = timed_runs([MIGSPEC, "lint", str(small), "--stats", str(stats)], runs, env=run_env(pyc=False))
    return {"cases": results, "phases": phases, "startup_s": median(startup), "runs": runs,
            "before_commit": BEFORE_COMMIT if before_env else None,
            "stats_bytes": stats.stat().st_size, "startup_parts": _startup_parts(small, stats, max(3, runs)),
            "statements": statements, "small_nopyc_s": median(nopyc), "imports": _importtime(small, stats)}


def _startup_parts(small: Path, stats: Path, runs: int) -> dict:
    """The small file's fixed costs (issue 16): what importing pglast's parser and PyYAML alone
    takes (fresh interpreters, wall medians), and the dataclasses, enum classes and regular
    expressions a small lint creates at every start (bench/startup_parts.py, medians)."""
    out: dict = {}
    for key, code in (("pglast_s", "import pglast.parser"), ("yaml_s", "import yaml")):
        out[key] = median(timed_runs([PYTHON, "-c", code], runs)[0])
    samples = []
    for _ in range(runs):
        p = subprocess.run([PYTHON, str(BENCH / "startup_parts.py"), str(small), "--stats", str(stats)],
                           capture_output=True, text=True, check=False, env=run_env())
        if p.returncode == 0:
            samples.append(json.loads(p.stdout))
        else:
            log(f"startup_parts failed: {p.stderr[-300:]}")
    if samples:
        out.update({k: median([s[k] for s in samples]) for k in samples[0] if k != "rc"})
    return out


def _importtime(small: Path, stats: Path) -> list[dict]:
    """Self import time per module (python -X importtime) of the modules a lint of the small file
    loads, the largest first. Those it loads through importlib.import_module (the rule modules, the
    operation modules its statements need) are invisible to -X importtime: a first run lists every
    module the lint loads, the timed run imports them by name (collector paused, as the command
    runs) before the lint itself."""
    lint = f"from migspec.cli import main; main(['lint', {str(small)!r}, '--stats', {str(stats)!r}])"
    listed = subprocess.run([PYTHON, "-c", "import contextlib, io, sys\nwith contextlib.redirect_stdout(io.StringIO()):\n"
                             f"    {lint}\nprint(' '.join(sorted(sys.modules)))"],
                            capture_output=True, text=True, check=False, env=run_env())
    ours = [m for m in listed.stdout.split() if m == "migspec" or m.startswith("migspec.")]
    code = ("import contextlib, gc, io\ngc.disable()\n" + "".join(f"import {m}\n" for m in ours)
            + f"with contextlib.redirect_stdout(io.StringIO()):\n    {lint}\n")
    argv = [PYTHON, "-X", "importtime", "-c", code]
    for _ in range(2):  # the first run may write .pyc files; keep the second
        p = subprocess.run(argv, capture_output=True, text=True, check=False, env=run_env())
    rows = []
    for line in p.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        parts = line[len("import time:"):].split("|")
        rows.append({"module": parts[2].strip(), "self_s": int(parts[0]) / 1e6, "cumulative_s": int(parts[1]) / 1e6})
    rows.sort(key=lambda r: -r["self_s"])
    return rows


def markdown(r: dict) -> list[str]:
    out = ["## 1. Static speed: `migspec lint` vs `squawk`", ""]
    out.append(f"Whole-process wall time (start to exit, output to /dev/null), median of {r['runs']} runs after "
               "one warm-up, the tools run in turn (run i of each, then run i + 1) so that they share the load; "
               "the corpus is generated by `bench/corpus.py` (mixed DDL/DML on 50 measured tables; "
               "stats file with `--stats`). `squawk` gets the file list and `--pg-version 15.0`.")
    out.append("")
    out.append("| input | migspec text | squawk (default tty) | **ratio** | migspec json | squawk json | **ratio** "
               "| findings migspec / squawk |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for c in r["cases"]:
        mt, st = c["migspec_text"]["median_s"], c["squawk_tty"]["median_s"]
        mj, sj = c["migspec_json"]["median_s"], c["squawk_json"]["median_s"]
        out.append(f"| {c['label']} | {fmt_s(mt)} | {fmt_s(st)} | {fmt_ratio(mt / st)} | {fmt_s(mj)} | {fmt_s(sj)} "
                   f"| {fmt_ratio(mj / sj)} | {c['migspec_findings']:,} / {c['squawk_findings']:,} |")
    out.append("")
    out.append("Ratio = migspec / squawk (below 1.00x: migspec faster). Findings are counted from each tool's JSON "
               "output (the two tools' rules differ, so the counts are a sanity check, not a score).")
    if r.get("before_commit") and all("before_json" in c for c in r["cases"]):
        out.append("")
        out.append(f"Before / after issue 16's speed work (libpg_query's JSON tree instead of pglast's Python nodes, "
                   f"lazy imports), both measured in this run: before = commit `{r['before_commit']}` run by the same "
                   "interpreter (PYTHONPATH), after = this tree. The findings are the same "
                   "(tests/test_lint_golden.py).")
        keys = ("before_text", "migspec_text", "before_json", "migspec_json", "squawk_json")
        for measure, what in (("median_s", "wall time"), ("cpu_median_s", "CPU time (user + system)")):
            if not all(measure in c[k] for c in r["cases"] for k in keys):
                continue
            medians = [(c["label"], *(c[k][measure] for k in keys)) for c in r["cases"]]
            out += ["", f"{what[0].upper()}{what[1:]}, medians:", "",
                    "| input | before text | after text | after / before | before json | after json | after / before "
                    "| after json / squawk json |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
            out += [f"| {label} | {fmt_s(bt)} | {fmt_s(at)} | {fmt_ratio(at / bt)} | {fmt_s(bj)} | {fmt_s(aj)} | "
                    f"{fmt_ratio(aj / bj)} | {fmt_ratio(aj / sj)} |" for label, bt, at, bj, aj, sj in medians]
    one = next(c for c in r["cases"] if c["key"] == "one")
    if one["squawk_tty"]["median_s"] > 5 * one["squawk_json"]["median_s"]:
        out.append(f"squawk's default tty reporter is most of its time on the one big file: "
                   f"{fmt_s(one['squawk_tty']['median_s'])} vs {fmt_s(one['squawk_json']['median_s'])} with "
                   "`--reporter json` on the same input; the JSON columns compare the tools' own work.")
    out.append("")
    corpus_one = next(c for c in r["cases"] if c["key"] == "one")
    small = next(c for c in r["cases"] if c["key"] == "small")
    ratio_corpus = corpus_one["migspec_json"]["median_s"] / corpus_one["squawk_json"]["median_s"]
    ratio_tty = corpus_one["migspec_text"]["median_s"] / corpus_one["squawk_tty"]["median_s"]
    small_s = small["migspec_text"]["median_s"]
    out.append("Goals:")
    out.append(f"- corpus, migspec no slower than squawk: JSON vs JSON {fmt_ratio(ratio_corpus)} -> "
               f"**{'met' if ratio_corpus <= 1 else 'missed'}**; default output vs default output "
               f"{fmt_ratio(ratio_tty)} -> **{'met' if ratio_tty <= 1 else 'missed'}**.")
    out.append(f"- one small file under 100 ms: {fmt_s(small_s)} = {fmt_ratio(small_s / GOAL_SMALL_S)} of the 100 ms "
               f"budget -> **{'met' if small_s <= GOAL_SMALL_S else 'missed'}** (a bare `python -c pass` takes "
               f"{fmt_s(r['startup_s'])} here).")
    if "migspec_text_jsonstats" in small:
        out.append(f"  The same with the stats file as JSON (`migspec measure -o stats.json`; no PyYAML to import "
                   f"and run): {fmt_s(small['migspec_text_jsonstats']['median_s'])}.")
    out.append("")
    out.append("### Where migspec's time goes")
    out.append("")
    out.append("Timers around the library calls `migspec lint` makes (`bench/lint_phases.py`, text output), "
               "each run a fresh interpreter, medians; shares are of that process's own wall time (the "
               "comparison measurements it also makes are subtracted), so the rows add up to 100 %.")
    out.append("")
    out.append("| part | corpus (1 file) | share | small file | share |")
    out.append("|---|---:|---:|---:|---:|")
    one_p, small_p = r["phases"].get("one", {}), r["phases"].get("small", {})
    whole_one = float(one_p.get("whole_s", corpus_one["migspec_text"]["median_s"]))
    whole_small = float(small_p.get("whole_s", small_s))

    def row(label: str, a: float, b: float) -> str:
        return (f"| {label} | {fmt_s(a)} | {a / whole_one * 100:.0f} % | {fmt_s(b)} | "
                f"{b / whole_small * 100:.0f} % |")

    def g(p: dict, k: str) -> float:
        return float(p.get(k, float("nan")))

    accounted_one = sum(g(one_p, k) for k in ("import_s", "stats_s", "parse_s", "lint_s", "render_s"))
    accounted_small = sum(g(small_p, k) for k in ("import_s", "stats_s", "parse_s", "lint_s", "render_s"))
    out.append(row("interpreter start-up (`python -c pass`)", r["startup_s"], r["startup_s"]))
    out.append(row("imports (migspec, pglast, yaml, ...)", g(one_p, "import_s"), g(small_p, "import_s")))
    out.append(row("stats file + arguments", g(one_p, "stats_s"), g(small_p, "stats_s")))
    out.append(row("parse: `load_migration` (read, parse, locate)", g(one_p, "parse_s"), g(small_p, "parse_s")))
    out.append(row("- of which libpg_query's JSON tree + `json.loads` alone", g(one_p, "json_parse_s"),
                   g(small_p, "json_parse_s")))
    out.append(row("(pglast `parse_sql`, Python nodes, as before issue 16)", g(one_p, "pglast_parse_s"),
                   g(small_p, "pglast_parse_s")))
    out.append(row("analysis + rules + risk: `lint()`", g(one_p, "lint_s"), g(small_p, "lint_s")))
    out.append(row("render text", g(one_p, "render_s"), g(small_p, "render_s")))
    out.append(row("(render json, for `--format json`)", g(one_p, "render_json_s"), g(small_p, "render_json_s")))
    rest_one = whole_one - r["startup_s"] - accounted_one
    rest_small = whole_small - r["startup_s"] - accounted_small
    out.append(row("rest (interpreter exit, unaccounted)", rest_one, rest_small))
    out.append(f"| **whole process** | **{fmt_s(whole_one)}** | 100 % | **{fmt_s(whole_small)}** | 100 % |")
    imports = r.get("imports") or []
    if imports:
        def grp(prefix: str) -> float:
            return sum(x["self_s"] for x in imports if x["module"] == prefix or x["module"].startswith(prefix + "."))
        ours = [x for x in imports if x["module"].startswith("migspec")]
        other = sum(x["self_s"] for x in imports) - grp("migspec") - grp("pglast") - grp("yaml")
        out.append("")
        out.append(f"Imports by `python -X importtime` (self times, .pyc present): migspec {fmt_s(grp('migspec'))} "
                   f"(largest: " + ", ".join(f"`{x['module']}` {fmt_s(x['self_s'])}" for x in ours[:4]) + "), "
                   f"pglast {fmt_s(grp('pglast'))}, yaml {fmt_s(grp('yaml'))}, standard library and others "
                   f"{fmt_s(other)}. The stats file alone: PyYAML's pure-Python `safe_load` "
                   f"{fmt_s(g(small_p, 'stats_yaml_s'))} vs its libyaml `CSafeLoader` (whose parser `load_stats` "
                   f"uses) "
                   f"{fmt_s(g(small_p, 'stats_cyaml_s'))} on the same {r.get('stats_bytes', 0):,}-byte file. "
                   f"Without .pyc files (`PYTHONDONTWRITEBYTECODE=1`, as this workplace's shell "
                   f"sets) the small-file run takes {fmt_s(r['small_nopyc_s'])} instead of {fmt_s(small_s)}.")
    sp = r.get("startup_parts") or {}
    if "dataclasses" in sp:
        out.append("")
        out.append(f"The small file's fixed costs (fresh interpreters, medians): `import pglast.parser` alone "
                   f"{fmt_s(sp['pglast_s'])} (its package builds pglast's enum and node classes at import), "
                   f"`import yaml` alone {fmt_s(sp['yaml_s'])} (PyYAML builds its pure-Python reader, scanner "
                   f"and resolver, regular expressions included, even when libyaml parses), both with the "
                   f"interpreter's start-up; during the run (`bench/startup_parts.py`, timers around the standard "
                   f"library's own functions) {sp['dataclasses']:.0f} dataclasses are created in "
                   f"{fmt_s(sp['dataclass_s'])} (each one's methods compiled with exec() at every start), "
                   f"{sp['enums']:.0f} enum classes in {fmt_s(sp['enum_s'])} and {sp['regexes']:.0f} "
                   f"regular expressions compiled in {fmt_s(sp['regex_s'])}; {sp['modules']:.0f} modules "
                   "loaded in all.")
    prof = one_p.get("profile")
    if prof:
        parts = prof["parts_s"]
        total = sum(parts.values()) or 1.0
        out.append("")
        out.append("cProfile of parse + lint() + render on the corpus (profiler overhead inflates Python-heavy "
                   "parts; read the shares, not the seconds): "
                   + ", ".join(f"{k} {v / total * 100:.0f} %" for k, v in parts.items()) + ".")
        out.append("")
        out.append("Top self-time functions (cProfile, corpus):")
        out.append("")
        out.append("| function | self time | calls |")
        out.append("|---|---:|---:|")
        for t in prof["top_self"][:10]:
            out.append(f"| `{t['function']}` | {fmt_s(t['self_s'])} | {t['calls']:,} |")
    out.append("")
    return out


def summary(r: dict) -> list[tuple[str, str, str, str, str, str]]:
    rows = []
    for c in r["cases"]:
        if c["key"] == "small":
            t = c["migspec_text"]["median_s"]
            rows.append(("1. lint, one small migration file (pre-commit)", fmt_s(t), "budget 100 ms",
                         fmt_ratio(t / GOAL_SMALL_S), "<= 100 ms", "met" if t <= GOAL_SMALL_S else "missed"))
            if "migspec_text_jsonstats" in c:
                t = c["migspec_text_jsonstats"]["median_s"]
                rows.append(("1. lint, one small migration file, stats file as JSON", fmt_s(t), "budget 100 ms",
                             fmt_ratio(t / GOAL_SMALL_S), "(reference)", ""))
            continue
        for fmt, peer in (("json", "json"), ("text", "tty")):
            m, q = c[f"migspec_{fmt}"]["median_s"], c[f"squawk_{peer}"]["median_s"]
            rows.append((f"1. lint, {c['label']}, {fmt} output", fmt_s(m), f"squawk ({peer}) {fmt_s(q)}",
                         fmt_ratio(m / q), "<= 1.00x", "met" if m <= q else "missed"))
        if "cpu_median_s" in c["migspec_json"]:  # what each tool costs, whatever the machine's load
            m, q = c["migspec_json"]["cpu_median_s"], c["squawk_json"]["cpu_median_s"]
            rows.append((f"1. lint, {c['label']}, json output, CPU time", fmt_s(m), f"squawk (json) {fmt_s(q)}",
                         fmt_ratio(m / q), "(reference)", ""))
    return rows
