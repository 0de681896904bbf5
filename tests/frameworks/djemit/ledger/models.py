from django.db import models


class Entry(models.Model):
    amount = models.IntegerField()
    note = models.CharField(max_length=100, default="")
