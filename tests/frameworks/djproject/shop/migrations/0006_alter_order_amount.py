from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0005_order_status_idx")]

    operations = [
        migrations.AlterField(model_name="order", name="amount", field=models.BigIntegerField()),
    ]
