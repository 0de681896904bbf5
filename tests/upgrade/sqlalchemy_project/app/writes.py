from app.schema import users


def add_user(engine, name: str) -> None:
    conn = engine.connect()
    conn.execute(users.insert().values(name=name))  # 1.x: committed by library-level autocommit
    conn.close()
