"""add what client authentication beyond shared secrets needs

Assertion signing algorithm, certificate-bound tokens and the assertion-audience choice
per client; encrypted secrets (client_secret_jwt needs the secret itself, so its secrets
are kept encrypted instead of hashed: secret_hash becomes optional); the refresh token's
certificate binding; the used assertion ids (replay store of the embedded default); and
when each client key last authenticated. Existing clients keep their behaviour: no
binding, the server's audience setting, any algorithm their method allows.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 06:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import appward.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_endpoint_auth_signing_alg", sa.String(10)))
        batch_op.add_column(
            sa.Column(
                "tls_client_certificate_bound_access_tokens",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )
        batch_op.add_column(sa.Column("assertion_audience", sa.String(10)))
    with op.batch_alter_table("client_secrets", schema=None) as batch_op:
        batch_op.alter_column("secret_hash", existing_type=sa.String(255), nullable=True)
        batch_op.add_column(sa.Column("secret_encrypted", sa.LargeBinary()))
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("certificate_thumbprint", sa.String(64)))
    op.create_table(
        "used_jtis",
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("jti_hash", sa.String(64), nullable=False),
        sa.Column("expires_at", appward.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "jti_hash", name=op.f("pk_used_jtis")),
    )
    op.create_index(op.f("ix_used_jtis_expires_at"), "used_jtis", ["expires_at"])
    op.create_table(
        "client_key_uses",
        sa.Column("client_pk", sa.Integer(), nullable=False),
        sa.Column("kid", sa.String(200), nullable=False),
        sa.Column("last_used_at", appward.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_pk"],
            ["clients.id"],
            name=op.f("fk_client_key_uses_client_pk_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_pk", "kid", name=op.f("pk_client_key_uses")),
    )


def downgrade() -> None:
    op.drop_table("client_key_uses")
    op.drop_index(op.f("ix_used_jtis_expires_at"), table_name="used_jtis")
    op.drop_table("used_jtis")
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.drop_column("certificate_thumbprint")
    with op.batch_alter_table("client_secrets", schema=None) as batch_op:
        batch_op.drop_column("secret_encrypted")
        batch_op.alter_column("secret_hash", existing_type=sa.String(255), nullable=False)
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("assertion_audience")
        batch_op.drop_column("tls_client_certificate_bound_access_tokens")
        batch_op.drop_column("token_endpoint_auth_signing_alg")
