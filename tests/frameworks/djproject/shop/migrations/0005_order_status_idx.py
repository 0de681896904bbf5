from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0004_rename_total_amount")]

    operations = [
        migrations.AddIndex(model_name="order", index=models.Index(fields=["status"], name="shop_order_status_idx")),
    ]
