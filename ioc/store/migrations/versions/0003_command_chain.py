"""Command chain: major events, supervision notices (督办), API tokens, kiosk links, login attempts;
work-order extension, rework and satisfaction.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 05:47:03.345304
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('kiosk_link',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('label', sa.String(length=80), nullable=False),
    sa.Column('created_by', sa.String(length=80), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kiosk_link'))
    )
    op.create_table('login_attempt',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=80), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_attempt'))
    )
    with op.batch_alter_table('login_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_attempt_username_at'), ['username', 'at'], unique=False)

    op.create_table('major_event',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('categories', sa.JSON(), nullable=False),
    sa.Column('district_codes', sa.JSON(), nullable=False),
    sa.Column('area', sa.JSON(), nullable=True),
    sa.Column('created_by', sa.String(length=80), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_major_event'))
    )
    op.create_table('supervision',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('target_type', sa.String(length=20), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('clock', sa.String(length=30), nullable=False),
    sa.Column('org_code', sa.String(length=40), nullable=True),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('suggestion', sa.JSON(), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['org_code'], ['org.code'], name=op.f('fk_supervision_org_code_org')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision')),
    sa.UniqueConstraint('target_type', 'target_id', 'clock', name=op.f('uq_supervision_target_type_target_id_clock'))
    )
    with op.batch_alter_table('supervision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supervision_org_code_resolved_at'), ['org_code', 'resolved_at'], unique=False)

    op.create_table('api_token',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_api_token_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_token')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_token_token_hash'))
    )
    with op.batch_alter_table('work_order', schema=None) as batch_op:
        batch_op.add_column(sa.Column('extension_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('extension_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('rework_count', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('satisfaction', sa.String(length=30), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('work_order', schema=None) as batch_op:
        batch_op.drop_column('satisfaction')
        batch_op.drop_column('rework_count')
        batch_op.drop_column('extension_reason')
        batch_op.drop_column('extension_until')

    op.drop_table('api_token')
    with op.batch_alter_table('supervision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supervision_org_code_resolved_at'))

    op.drop_table('supervision')
    op.drop_table('major_event')
    with op.batch_alter_table('login_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_attempt_username_at'))

    op.drop_table('login_attempt')
    op.drop_table('kiosk_link')
