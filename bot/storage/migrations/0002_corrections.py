from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Correction',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('candidate', fields.ForeignKeyField('models.Candidate', source_field='candidate_id', db_constraint=True, to_field='id', related_name='corrections', on_delete=OnDelete.CASCADE)),
                ('alert_id', fields.IntField(null=True, db_index=True)),
                ('text', fields.TextField(unique=False)),
                ('bot_intent', fields.CharField(max_length=16)),
                ('bot_concerns', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('hr_intent', fields.CharField(max_length=16)),
                ('hr_concerns', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('model', fields.CharField(default='', max_length=64)),
                ('by', fields.CharField(max_length=160)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'correction', 'app': 'models', 'pk_attr': 'id', 'table_description': "HR's label for a reply the bot read wrong: a training example, erased with the person."},
            bases=['Model'],
        ),
    ]
