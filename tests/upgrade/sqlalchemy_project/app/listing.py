from sqlalchemy import select

from app.schema import users


def names(engine) -> list[str]:
    return [row.name for row in engine.execute(select([users.c.name]).order_by(users.c.name))]
