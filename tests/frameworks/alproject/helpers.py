"""Code a revision calls that migspec cannot see into from the revision file."""


def rebuild_totals(conn):
    for row in conn.execute("SELECT id FROM orders").fetchall():
        conn.execute("UPDATE orders SET amount = amount WHERE id = %s", row[0])
