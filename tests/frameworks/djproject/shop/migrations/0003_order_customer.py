import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    # Depends on a migration the squashed accounts migration replaces: Django remaps it.
    dependencies = [("shop", "0002_order_status"), ("accounts", "0002_customer_email")]

    operations = [
        migrations.AddField(
            model_name="order",
            name="customer",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE, to="accounts.customer"),
        ),
    ]
