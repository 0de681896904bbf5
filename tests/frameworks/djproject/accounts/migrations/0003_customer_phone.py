from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_customer_email")]

    operations = [
        migrations.AddField(model_name="customer", name="phone", field=models.CharField(max_length=30, null=True)),
    ]
