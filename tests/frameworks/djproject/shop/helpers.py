"""Code a migration calls that migspec cannot see into from the migration file."""


def recompute_everything(apps):
    Order = apps.get_model("shop", "Order")
    for order in Order.objects.all():
        order.note = order.note.strip()
        order.save()
