"""Search by message text (the queue's `q`), stable and fast at any size.

The queue's search keeps the newest matching messages (selectors.queue), so
`msg_recent` lets PostgreSQL walk messages from the newest and stop at
SEARCH_MESSAGE_LIMIT matches: a common word ("bonjour") costs a few ms.

On PostgreSQL, a trigram index on UPPER(text) (what `icontains` compares)
answers a rare word without reading every message, and its expression
statistics tell the planner how common a word is, so it picks between the
two. SQLite, the embedded demo's database, has neither trigrams nor the need.
Built CONCURRENTLY: adding it to a live database does not block the webhook.
"""

from django.db import migrations, models

TRIGRAM_INDEX = "msg_text_trgm"


def create_trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {TRIGRAM_INDEX} "
        "ON inbox_message USING gin (UPPER(text) gin_trgm_ops)"
    )


def drop_trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {TRIGRAM_INDEX}")


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("inbox", "0006_message_page_replies_index"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="message",
            index=models.Index(fields=["timestamp", "id"], name="msg_recent"),
        ),
        migrations.RunPython(create_trigram_index, drop_trigram_index, elidable=False),
    ]
