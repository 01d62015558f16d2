"""Records what the real Alembic prints for `history`, `heads`, `branches`,
`current` and `show` over the graphs of ../alembic-cases.json, into
../alembic-output.json, which tests/it/alembic_output.rs compares with
kiln's output.

    python3 -m venv /tmp/alembic && /tmp/alembic/bin/pip install alembic==1.20.1
    /tmp/alembic/bin/python tests/data/alembic-output/record.py

Each graph becomes a script directory whose revision files hold what the
test's kiln files hold (the same message, keys and description), and a
SQLite database at a chosen current revision for `current` and
`--indicate-current`. Two normalisations, both also applied to kiln's
output by the test:
- Alembic prints sets (the children in `Branches into:`, branch labels) in
  Python's hash order, which changes from run to run; here they are sorted.
  `branches` lists a branch point's children, and `current` its revisions,
  in set order too: the test sorts those lines on both sides.
- `Path:` lines name the file relative to the versions directory, without
  its extension (`.py` here, `.sql` for kiln), and `current -v` names the
  database as `<url>`.
"""

import contextlib
import io
import json
import os
import sys
import tempfile

from alembic import command, util
from alembic.config import Config
import alembic.script.base as script_base

HERE = os.path.dirname(os.path.abspath(__file__))

_format_as_comma = util.format_as_comma


def _sorted_sets(value):
    if isinstance(value, (set, frozenset)):
        value = sorted(value)
    return _format_as_comma(value)


script_base.util.format_as_comma = _sorted_sets

ENV_PY = '''
from alembic import context
from sqlalchemy import create_engine
engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
with engine.connect() as connection:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
'''


def message(case, i):
    return "step %d of %s" % (i, case)


def description(i):
    # Every third revision has a description paragraph; some have two.
    if i % 3 != 1:
        return []
    paras = ["Why step %d: a note: with a colon." % i]
    if i % 2:
        paras.append("A second paragraph\n  with an indented line.")
    return paras


def revision_file(case, i, rev):
    down = rev["down_revisions"]
    lines = [message(case, i), "", "Revision ID: %s" % rev["id"], "Revises: %s" % ", ".join(down),
             "Create Date: 2026-12-02 10:00:00.000000"]
    for p in description(i):
        lines += [""] + p.split("\n")
    doc = "\n".join(lines) + "\n"
    tup = lambda xs: "None" if not xs else (repr(xs[0]) if len(xs) == 1 else repr(tuple(xs)))
    return '"""%s"""\nrevision = %r\ndown_revision = %s\nbranch_labels = %s\ndepends_on = %s\n\ndef upgrade():\n    pass\n\ndef downgrade():\n    pass\n' % (
        doc, rev["id"], tup(down), tup(rev["branch_labels"]), tup(rev["depends_on"]))


def run(cfg, out, fn, *args, **kw):
    out.seek(0)
    out.truncate()
    try:
        fn(cfg, *args, **kw)
        return {"stdout": out.getvalue()}
    except Exception as e:  # Alembic's error, recorded as kiln must answer it
        return {"error": type(e).__name__, "message": str(e), "stdout": out.getvalue()}


def normalise(text, versions):
    out = []
    for line in text.split("\n"):
        if line.startswith("Path: "):
            path = line[len("Path: "):]
            path = os.path.relpath(path, versions)
            line = "Path: " + os.path.splitext(path)[0]
        if line.startswith("Current revision(s) for "):
            line = "Current revision(s) for <url>:"
        out.append(line)
    return "\n".join(out)


def main():
    cases = json.load(open(os.path.join(HERE, "..", "alembic-cases.json")))["cases"]
    recorded = []
    for case in cases:
        if any(q["kind"] == "load" for q in case["queries"]):
            continue  # invalid graphs: Alembic cannot list them
        revs = case["revisions"]
        history = next(q["expected"] for q in case["queries"] if q["kind"] == "history")
        heads = next(q["expected"] for q in case["queries"] if q["kind"] == "heads")
        with tempfile.TemporaryDirectory() as tmp:
            versions = os.path.join(tmp, "versions")
            os.makedirs(versions)
            with open(os.path.join(tmp, "env.py"), "w") as f:
                f.write(ENV_PY)
            for i, rev in enumerate(revs):
                with open(os.path.join(versions, "%s_m.py" % rev["id"]), "w") as f:
                    f.write(revision_file(case["name"], i, rev))
            db = os.path.join(tmp, "db.sqlite")
            out = io.StringIO()
            cfg = Config(stdout=out)
            cfg.set_main_option("script_location", tmp)
            cfg.set_main_option("sqlalchemy.url", "sqlite:///" + db)
            # The current revision: the middle of the history (a valid single row).
            current = history[len(history) // 2]
            command.stamp(cfg, current)
            mid = history[len(history) // 2]
            last = history[-1]
            queries = [
                ("history", [], {}),
                ("history", ["-v"], {"verbose": True}),
                ("history", ["-r", "%s:" % mid], {"rev_range": "%s:" % mid}),
                ("history", ["-r", ":%s" % mid], {"rev_range": ":%s" % mid}),
                ("history", ["-r", "%s:heads" % last], {"rev_range": "%s:heads" % last}),
                ("history", ["--indicate-current"], {"indicate_current": True}),
                ("history", ["-r", "current:"], {"rev_range": "current:"}),
                ("heads", [], {}),
                ("heads", ["-v"], {"verbose": True}),
                ("heads", ["--resolve-dependencies"], {"resolve_dependencies": True}),
                ("branches", [], {}),
                ("branches", ["-v"], {"verbose": True}),
                ("current", [], {}),
                ("current", ["-v"], {"verbose": True}),
            ]
            shown = [history[0], history[-1], mid] + [r["id"] for r in revs if len(r["down_revisions"]) > 1][:1]
            for r in dict.fromkeys(shown):
                queries.append(("show", [r], {"rev": r}))
            for ident in ["heads", "head", "base", "-1", heads[0] + "-1"]:
                queries.append(("show", [ident], {"rev": ident}))
            answers = []
            for name, argv, kw in queries:
                fn = getattr(command, name)
                answer = run(cfg, out, fn, **kw)
                answer["stdout"] = normalise(answer["stdout"], versions)
                answers.append({"command": name, "args": argv, **answer})
        recorded.append({"name": case["name"], "current": current, "revisions": revs,
                         "messages": [message(case["name"], i) for i in range(len(revs))],
                         "descriptions": [description(i) for i in range(len(revs))], "answers": answers})
    with open(os.path.join(HERE, "..", "alembic-output.json"), "w") as f:
        json.dump({"alembic_version": __import__("alembic").__version__, "cases": recorded}, f, indent=None)
        f.write("\n")
    print("recorded %d graphs" % len(recorded), file=sys.stderr)


if __name__ == "__main__":
    main()
