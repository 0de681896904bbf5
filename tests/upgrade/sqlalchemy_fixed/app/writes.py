from app.schema import users


def add_user(engine, name: str) -> None:
    with engine.begin() as conn:  # an explicit transaction: commits on 1.4 and 2.0 alike
        conn.execute(users.insert().values(name=name))
