from sqlalchemy import MetaData


def table_names(engine) -> list[str]:
    reflected = MetaData()
    reflected.reflect(bind=engine)
    return sorted(reflected.tables)
