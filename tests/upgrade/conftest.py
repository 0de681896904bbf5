"""The sample projects here are inputs to the upgrade tests (their own tests run under pinned
framework releases, in the projects' interpreters): pytest must not collect them itself."""

collect_ignore_glob = ["*_project/*", "sqlalchemy_fixed/*"]
