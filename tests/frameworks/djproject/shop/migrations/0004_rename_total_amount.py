from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0003_order_customer")]

    operations = [
        migrations.RenameField(model_name="order", old_name="total", new_name="amount"),
    ]
