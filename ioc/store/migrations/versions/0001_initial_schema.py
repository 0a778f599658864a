"""Initial schema: the tables of DESIGN.md with the indexes the pages query by.

Revision ID: 0001
Revises: 
Create Date: 2026-11-27 05:24:32.621086
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alert',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('feed', sa.String(length=60), nullable=False),
    sa.Column('sender', sa.String(length=200), nullable=False),
    sa.Column('identifier', sa.String(length=200), nullable=False),
    sa.Column('sent', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('msg_type', sa.String(length=20), nullable=False),
    sa.Column('scope', sa.String(length=20), nullable=False),
    sa.Column('event', sa.String(length=200), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('urgency', sa.String(length=20), nullable=False),
    sa.Column('severity', sa.String(length=20), nullable=False),
    sa.Column('certainty', sa.String(length=20), nullable=False),
    sa.Column('headline', sa.String(length=500), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('instruction', sa.Text(), nullable=False),
    sa.Column('areas', sa.JSON(), nullable=False),
    sa.Column('references', sa.JSON(), nullable=False),
    sa.Column('effective', sa.DateTime(timezone=True), nullable=True),
    sa.Column('onset', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expires', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('superseded_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['superseded_by_id'], ['alert.id'], name=op.f('fk_alert_superseded_by_id_alert')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert')),
    sa.UniqueConstraint('sender', 'identifier', 'sent', name=op.f('uq_alert_sender_identifier_sent'))
    )
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_expires'), ['expires'], unique=False)

    op.create_table('audit',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=80), nullable=False),
    sa.Column('action', sa.String(length=60), nullable=False),
    sa.Column('target_type', sa.String(length=40), nullable=False),
    sa.Column('target_id', sa.String(length=80), nullable=False),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit'))
    )
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_target_type_target_id'), ['target_type', 'target_id'], unique=False)

    op.create_table('district',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name_zh', sa.String(length=100), nullable=False),
    sa.Column('name_en', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('population', sa.Integer(), nullable=True),
    sa.Column('area_km2', sa.Double(), nullable=True),
    sa.Column('geometry', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_district'))
    )
    op.create_table('feed_state',
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('cursor', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('last_success_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('lag_seconds', sa.Double(), nullable=True),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_feed_state'))
    )
    op.create_table('outbox',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('destination', sa.String(length=60), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_delivered_at_next_attempt_at'), ['delivered_at', 'next_attempt_at'], unique=False)

    op.create_table('org',
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name_zh', sa.String(length=100), nullable=False),
    sa.Column('name_en', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('service', sa.String(length=30), nullable=False),
    sa.Column('parent_code', sa.String(length=40), nullable=True),
    sa.Column('district_code', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['district_code'], ['district.code'], name=op.f('fk_org_district_code_district')),
    sa.ForeignKeyConstraint(['parent_code'], ['org.code'], name=op.f('fk_org_parent_code_org')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_org'))
    )
    op.create_table('app_user',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=80), nullable=False),
    sa.Column('password_hash', sa.String(length=300), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('org_code', sa.String(length=40), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_code'], ['org.code'], name=op.f('fk_app_user_org_code_org')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_user')),
    sa.UniqueConstraint('username', name=op.f('uq_app_user_username'))
    )
    op.create_table('incident',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('source', sa.String(length=60), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=False),
    sa.Column('channel', sa.String(length=30), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('type', sa.String(length=80), nullable=False),
    sa.Column('priority', sa.String(length=2), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=False),
    sa.Column('lon', sa.Double(), nullable=True),
    sa.Column('lat', sa.Double(), nullable=True),
    sa.Column('location_flag', sa.String(length=30), nullable=True),
    sa.Column('district_code', sa.String(length=32), nullable=True),
    sa.Column('grid_code', sa.String(length=40), nullable=True),
    sa.Column('org_code', sa.String(length=40), nullable=True),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('on_scene_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledge_due', sa.DateTime(timezone=True), nullable=True),
    sa.Column('dispatch_due', sa.DateTime(timezone=True), nullable=True),
    sa.Column('on_scene_due', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolve_due', sa.DateTime(timezone=True), nullable=True),
    sa.Column('satisfaction', sa.String(length=30), nullable=True),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('report_count', sa.Integer(), nullable=False),
    sa.Column('sources', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['district_code'], ['district.code'], name=op.f('fk_incident_district_code_district')),
    sa.ForeignKeyConstraint(['org_code'], ['org.code'], name=op.f('fk_incident_org_code_org')),
    sa.ForeignKeyConstraint(['parent_id'], ['incident.id'], name=op.f('fk_incident_parent_id_incident')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident')),
    sa.UniqueConstraint('source', 'external_id', name=op.f('uq_incident_source_external_id'))
    )
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incident_district_code_status'), ['district_code', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_incident_org_code_status'), ['org_code', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_incident_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_incident_reported_at'), ['reported_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_incident_status_priority_reported_at'), ['status', 'priority', 'reported_at'], unique=False)

    op.create_table('key_point',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('name_zh', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('lon', sa.Double(), nullable=False),
    sa.Column('lat', sa.Double(), nullable=False),
    sa.Column('district_code', sa.String(length=32), nullable=True),
    sa.Column('org_code', sa.String(length=40), nullable=True),
    sa.Column('demo', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['district_code'], ['district.code'], name=op.f('fk_key_point_district_code_district')),
    sa.ForeignKeyConstraint(['org_code'], ['org.code'], name=op.f('fk_key_point_org_code_org')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_key_point'))
    )
    with op.batch_alter_table('key_point', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_key_point_kind'), ['kind'], unique=False)

    op.create_table('incident_event',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('actor', sa.String(length=80), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('fk_incident_event_incident_id_incident')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_event'))
    )
    with op.batch_alter_table('incident_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incident_event_incident_id_at'), ['incident_id', 'at'], unique=False)

    op.create_table('raw_record',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('feed', sa.String(length=60), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('fk_raw_record_incident_id_incident')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_raw_record'))
    )
    with op.batch_alter_table('raw_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_raw_record_feed_external_id'), ['feed', 'external_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_raw_record_feed_outcome'), ['feed', 'outcome'], unique=False)

    op.create_table('sensor',
    sa.Column('id', sa.String(length=60), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('key_point_id', sa.String(length=40), nullable=True),
    sa.Column('unit_of_measure', sa.String(length=20), nullable=False),
    sa.Column('warning_level', sa.Double(), nullable=True),
    sa.Column('alarm_level', sa.Double(), nullable=True),
    sa.Column('hysteresis', sa.Float(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('last_value', sa.Double(), nullable=True),
    sa.Column('last_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['key_point_id'], ['key_point.id'], name=op.f('fk_sensor_key_point_id_key_point')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sensor'))
    )
    op.create_table('unit',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('call_sign', sa.String(length=60), nullable=False),
    sa.Column('unit_type', sa.String(length=30), nullable=False),
    sa.Column('org_code', sa.String(length=40), nullable=False),
    sa.Column('home_point_id', sa.String(length=40), nullable=True),
    sa.Column('name_zh', sa.String(length=100), nullable=False),
    sa.Column('name_en', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('status_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lon', sa.Double(), nullable=True),
    sa.Column('lat', sa.Double(), nullable=True),
    sa.Column('position_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('demo', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['home_point_id'], ['key_point.id'], name=op.f('fk_unit_home_point_id_key_point')),
    sa.ForeignKeyConstraint(['org_code'], ['org.code'], name=op.f('fk_unit_org_code_org')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unit'))
    )
    with op.batch_alter_table('unit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unit_unit_type_status'), ['unit_type', 'status'], unique=False)

    op.create_table('work_order',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('org_code', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('accept_by', sa.DateTime(timezone=True), nullable=True),
    sa.Column('feedback_by', sa.DateTime(timezone=True), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('feedback', sa.Text(), nullable=True),
    sa.Column('feedback_photo_url', sa.String(length=500), nullable=True),
    sa.Column('return_reason', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('fk_work_order_incident_id_incident')),
    sa.ForeignKeyConstraint(['org_code'], ['org.code'], name=op.f('fk_work_order_org_code_org')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_order'))
    )
    with op.batch_alter_table('work_order', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_work_order_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_work_order_org_code_status'), ['org_code', 'status'], unique=False)

    op.create_table('assignment',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('en_route_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('on_scene_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cleared_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('fk_assignment_incident_id_incident')),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_assignment_unit_id_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignment'))
    )
    with op.batch_alter_table('assignment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assignment_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_assignment_unit_id_status'), ['unit_id', 'status'], unique=False)

    op.create_table('reading',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('sensor_id', sa.String(length=60), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('value', sa.Double(), nullable=False),
    sa.ForeignKeyConstraint(['sensor_id'], ['sensor.id'], name=op.f('fk_reading_sensor_id_sensor')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reading')),
    sa.UniqueConstraint('sensor_id', 'at', name=op.f('uq_reading_sensor_id_at'))
    )


def downgrade() -> None:
    op.drop_table('reading')
    with op.batch_alter_table('assignment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assignment_unit_id_status'))
        batch_op.drop_index(batch_op.f('ix_assignment_incident_id'))

    op.drop_table('assignment')
    with op.batch_alter_table('work_order', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_work_order_org_code_status'))
        batch_op.drop_index(batch_op.f('ix_work_order_incident_id'))

    op.drop_table('work_order')
    with op.batch_alter_table('unit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_unit_unit_type_status'))

    op.drop_table('unit')
    op.drop_table('sensor')
    with op.batch_alter_table('raw_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_raw_record_feed_outcome'))
        batch_op.drop_index(batch_op.f('ix_raw_record_feed_external_id'))

    op.drop_table('raw_record')
    with op.batch_alter_table('incident_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incident_event_incident_id_at'))

    op.drop_table('incident_event')
    with op.batch_alter_table('key_point', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_key_point_kind'))

    op.drop_table('key_point')
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incident_status_priority_reported_at'))
        batch_op.drop_index(batch_op.f('ix_incident_reported_at'))
        batch_op.drop_index(batch_op.f('ix_incident_parent_id'))
        batch_op.drop_index(batch_op.f('ix_incident_org_code_status'))
        batch_op.drop_index(batch_op.f('ix_incident_district_code_status'))

    op.drop_table('incident')
    op.drop_table('app_user')
    op.drop_table('org')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_delivered_at_next_attempt_at'))

    op.drop_table('outbox')
    op.drop_table('feed_state')
    op.drop_table('district')
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_target_type_target_id'))
        batch_op.drop_index(batch_op.f('ix_audit_at'))

    op.drop_table('audit')
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_expires'))

    op.drop_table('alert')
