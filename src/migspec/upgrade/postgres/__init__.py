"""PostgreSQL major-version upgrades: measure (``measure --upgrade-to``), plan (``upgrade
postgres``), execute (``apply``/``rollback`` with ``--target-dsn``) and rehearse on real servers.

The model and its rules come from /work/shared/reference/upgrades.md section 1(a): logical
blue/green with a reverse subscription after cutover, or pg_upgrade with an un-upgraded copy as
the way back.
"""
