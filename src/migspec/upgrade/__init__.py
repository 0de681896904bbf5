"""Major-version upgrades planned like a migration: PostgreSQL itself (``postgres``: logical
blue/green or pg_upgrade) and frameworks (Django, SQLAlchemy):
measurements, a removed-API scan generated from the frameworks' own documents, a risk class and
an expand -> migrate -> contract plan with a DOWN per step and a runbook."""
