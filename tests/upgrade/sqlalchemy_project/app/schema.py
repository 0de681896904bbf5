"""A small project written against SQLAlchemy 1.4 in 1.x style."""
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine

metadata = MetaData()
users = Table("users", metadata, Column("id", Integer, primary_key=True), Column("name", String(50)))


def make_engine(url: str):
    engine = create_engine(url)
    metadata.create_all(engine)
    return engine
