"""user names in their normal form: Unicode NFC, no surrounding white space

Names are looked up in this form now (``mes.auth.service.normal_name``): a name
stored as typed ("zoë" decomposed, "erin ") would no longer be found. Two stored
names with one normal form are two users the lookup cannot tell apart: the
upgrade stops and names them, for an administrator to rename or remove one.
A name that is empty or holds control characters is left as it is (no input
can name it any more). Names already recorded elsewhere (audit trail, who
approved or released) are history and stay as they were written.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-14 10:00:00.000000
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mes.errors import DatabaseError

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    conn = op.get_bind()
    users = conn.execute(sa.text("SELECT id, name FROM app_user ORDER BY id")).all()
    by_form: dict[str, list[tuple[int, str]]] = {}
    for user_id, name in users:
        # The same rule as normal_name, written out: a migration must not change when the code does.
        by_form.setdefault(unicodedata.normalize("NFC", name).strip(), []).append((user_id, name))
    clashes = {form: rows for form, rows in by_form.items() if len(rows) > 1 and form}
    if clashes:
        listed = "; ".join(
            f"{form!r}: " + ", ".join(f"id {i} {name!r}" for i, name in rows)
            for form, rows in clashes.items()
        )
        raise DatabaseError(
            "user names that differ only in Unicode form or surrounding white space are one name now: "
            f"{listed}. Rename or remove all but one of each in the app_user table, then run "
            "`mes db upgrade` again"
        )
    for form, rows in by_form.items():
        for user_id, name in rows:
            if form and form != name:  # an empty name stays as it is: nothing can name it
                conn.execute(
                    sa.text("UPDATE app_user SET name = :name WHERE id = :id"), {"name": form, "id": user_id}
                )


def downgrade() -> None:
    # The forms the names were typed in are not kept: a downgrade leaves the normal forms, which the
    # older code finds as long as they are typed that way.
    pass
