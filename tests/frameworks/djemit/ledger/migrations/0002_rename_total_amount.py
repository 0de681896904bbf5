from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [
        migrations.RenameField(model_name="entry", old_name="total", new_name="amount"),
    ]
