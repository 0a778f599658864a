"""Alembic environment: runs migrations on the engine handed over by ioc.store.migrate."""

from alembic import context

from ioc.store.models import Base
from ioc.store.migrate import include_object_on

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object_on(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()
