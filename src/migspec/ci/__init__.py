"""CI integration: the GitHub Action's script (``python -m migspec.ci.action``)."""
