import datetime

from django.utils import timezone


def order_time(year: int, month: int, day: int) -> datetime.datetime:
    """An aware datetime at midnight UTC."""
    return datetime.datetime(year, month, day, tzinfo=timezone.utc)
