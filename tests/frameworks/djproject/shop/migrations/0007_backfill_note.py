from django.db import migrations

from shop.helpers import recompute_everything


def fill_notes(apps, schema_editor):
    Order = apps.get_model("shop", "Order")
    Order.objects.filter(note="").update(note="n/a")


def recompute(apps, schema_editor):
    recompute_everything(apps)


class Migration(migrations.Migration):
    dependencies = [("shop", "0006_alter_order_amount")]

    operations = [
        migrations.RunPython(fill_notes, migrations.RunPython.noop),
        migrations.RunPython(recompute, migrations.RunPython.noop),
        migrations.RunSQL("UPDATE shop_order SET status = 'new' WHERE status = ''", reverse_sql=migrations.RunSQL.noop),
    ]
