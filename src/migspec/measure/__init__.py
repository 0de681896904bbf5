"""Live statistics from PostgreSQL -> a stats snapshot (``migspec measure``).

Read-only, least privilege (``pg_monitor``, or ownership of the tables), and the password never
leaves the connection: see :mod:`.connection` for the session, :mod:`.collect` for the catalog
queries, :mod:`.sample` for the window (and the error bound of ``write_qps``), :mod:`.snapshot`
for the file.
"""

from migspec.measure.connection import MeasureError, Target
from migspec.measure.run import Measurement, MeasureOptions, TableMeasurement, measure
from migspec.measure.scope import parse_table_list, tables_of_migration

__all__ = ["MeasureError", "MeasureOptions", "Measurement", "TableMeasurement", "Target", "measure",
           "parse_table_list", "tables_of_migration"]
