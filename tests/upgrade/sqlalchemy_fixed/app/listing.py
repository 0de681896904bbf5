from sqlalchemy import select

from app.schema import users


def names(engine) -> list[str]:
    with engine.connect() as conn:
        return [row.name for row in conn.execute(select(users.c.name).order_by(users.c.name))]
