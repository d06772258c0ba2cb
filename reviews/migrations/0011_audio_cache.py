# Issue 13 §1, audio with every call: a recording is either kept (the vault's record, as every row so far) or a
# playback copy cached until cached_until; start_offset_ms places the recording on the call's timeline.
from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("reviews", "0010_escalations")]

    operations = [
        migrations.AddField(
            model_name="audiorecording",
            name="kept",
            field=models.BooleanField(default=True),
        ),
        migrations.AddField(
            model_name="audiorecording",
            name="cached_until",
            field=models.DateTimeField(blank=True, db_index=True, null=True),
        ),
        migrations.AddField(
            model_name="audiorecording",
            name="start_offset_ms",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddConstraint(
            model_name="audiorecording",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("cached_until__isnull", True), ("kept", True)),
                    models.Q(("cached_until__isnull", False), ("kept", False)),
                    _connector="OR",
                ),
                name="cached_audio_expires",
            ),
        ),
    ]
