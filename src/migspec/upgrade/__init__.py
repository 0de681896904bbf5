"""Framework upgrades across major versions (Django, SQLAlchemy), planned like a migration:
measurements, a removed-API scan generated from the frameworks' own documents, a risk class and
an expand -> migrate -> contract plan with a DOWN per step and a runbook."""
