from sqlalchemy import MetaData


def table_names(engine) -> list[str]:
    reflected = MetaData(bind=engine)
    reflected.reflect()
    return sorted(reflected.tables)
