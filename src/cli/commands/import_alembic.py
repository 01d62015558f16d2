# kiln import alembic: reads an Alembic versions directory with the
# project's own Alembic, in offline mode, through a stub env.py of its own
# (so an env.py that imports the application does not matter), and prints
# one record per revision for kiln to write. Run by `kiln import alembic`;
# argv: <versions dir>. Records are separated by \x1e, fields by \x1f as
# key \x1d value.
import io
import os
import sys
import tempfile
import traceback

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

ENV_PY = """
from alembic import context
context.configure(
    url="postgresql://",
    literal_binds=True,
    dialect_opts={"paramstyle": "named"},
    transaction_per_migration=True,
    output_buffer=context.config.attributes["kiln_buffer"],
)
with context.begin_transaction():
    context.run_migrations()
"""


def tup(value):
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def split(text, verb):
    """The offline script's part of each revision, by the `-- Running` markers."""
    out = {}
    current = None
    for line in text.splitlines(keepends=True):
        marker = "-- Running %s " % verb
        if line.startswith(marker):
            left, _, right = line[len(marker):].partition("->")
            left, right = left.strip(), right.strip()
            current = right if verb == "upgrade" else left
            out[current] = ""
            continue
        if current is not None:
            out[current] += line
    return out


def offline(cfg, fn, *args):
    buf = io.StringIO()
    cfg.attributes["kiln_buffer"] = buf
    try:
        fn(cfg, *args, sql=True)
        return buf.getvalue(), None
    except Exception as e:  # what Alembic cannot render offline
        return buf.getvalue(), "%s: %s" % (type(e).__name__, e)


def render_one(cfg, verb, rev, down):
    """One revision alone, to find which one fails and why."""
    if verb == "upgrade":
        start = ",".join(down) if down else "base"
        return offline(cfg, command.upgrade, "%s:%s" % (start, rev))
    return offline(cfg, command.downgrade, "%s:%s" % (rev, ",".join(down) if down else "base"))


def main():
    versions = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="kiln-import-")
    with open(os.path.join(tmp, "env.py"), "w") as f:
        f.write(ENV_PY)
    cfg = Config()
    cfg.set_main_option("script_location", tmp)
    cfg.set_main_option("version_locations", versions)
    script = ScriptDirectory.from_config(cfg)
    revisions = list(script.walk_revisions())
    up_text, up_error = offline(cfg, command.upgrade, "heads")
    down_text, down_error = offline(cfg, command.downgrade, "heads:base")
    ups, downs = split(up_text, "upgrade"), split(down_text, "downgrade")
    records = []
    for sc in revisions:
        down = tup(sc.down_revision)
        fields = {
            "id": sc.revision,
            "down": ",".join(down),
            "labels": ",".join(sorted(sc._orig_branch_labels or ())),
            "depends": ",".join(tup(sc.dependencies)),
            "doc": sc.longdoc,
            "path": sc.path,
            "source": open(sc.path, encoding="utf-8").read(),
            "version": __import__("alembic").__version__,
        }
        for verb, texts, error in (("upgrade", ups, up_error), ("downgrade", downs, down_error)):
            if sc.revision in texts and not error:
                fields[verb] = texts[sc.revision]
            else:
                text, err = render_one(cfg, verb, sc.revision, down)
                part = split(text, verb).get(sc.revision)
                if err or part is None:
                    fields[verb + "_error"] = err or "Alembic rendered nothing for it"
                else:
                    fields[verb] = part
        records.append("\x1f".join("%s\x1d%s" % (k, v) for k, v in fields.items()))
    sys.stdout.write("\x1e".join(records))


if __name__ == "__main__":
    try:
        main()
    except Exception:
        traceback.print_exc()
        sys.exit(1)
