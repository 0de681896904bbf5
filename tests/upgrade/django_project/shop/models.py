from django.db import models


class Order(models.Model):
    customer = models.CharField(max_length=100)
    placed_at = models.DateTimeField()
    total = models.IntegerField(default=0)

    class Meta:
        index_together = [("customer", "placed_at")]
