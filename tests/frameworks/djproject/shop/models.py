from django.db import models


class Order(models.Model):
    amount = models.BigIntegerField()
    note = models.CharField(max_length=200, default="")
    status = models.CharField(max_length=20, default="new")
    customer = models.ForeignKey("accounts.Customer", null=True, on_delete=models.CASCADE)

    class Meta:
        indexes = [models.Index(fields=["status"], name="shop_order_status_idx")]
