"""What the signature of a disposition signs, and its hash (see :mod:`mes.quality.disposition`).

The content is the state the signer decided on, read under the lot's lock before anything
changes; its canonical JSON (keys sorted, no white space, UTF-8 characters as they are, non-finite
numbers as null) is hashed with SHA-256, so anyone holding the content can check the hash recorded
in the audit trail.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, select

from mes.base import json_safe
from mes.lots.models import Characteristic, Layer, Lot, OosInterval
from mes.quality.disposition_models import Decision


def characteristic_names(session: Session, lot: Lot) -> dict[int, str]:
    """``LAYER.CHARACTERISTIC`` of each characteristic of the lot, by id."""
    rows = session.exec(
        select(Characteristic.id, Layer.name, Characteristic.name)
        .join(Layer, col(Layer.id) == col(Characteristic.layer_id))
        .where(Layer.lot_id == lot.id)
    ).all()
    return {cid: f"{layer}.{name}" for cid, layer, name in rows if cid is not None}


def signed_content(
    session: Session, decision: Decision, lot: Lot, chosen: Sequence[OosInterval], names: dict[int, str]
) -> dict[str, Any]:
    """What a decision's signature signs: ``decision``; ``scope`` (``lot``, or ``intervals`` when
    ``chosen`` are given); the ``lot`` (number, kind, status, length_m, recipe_hash) as it is before
    the decision; each layer's ``result``; and the ``intervals`` decided (every interval of the lot
    for a whole-lot decision), each with id, ``LAYER.CHARACTERISTIC``, kind, start_m, end_m, worst,
    limit, limit_kind and status. Non-finite numbers are None."""
    layers = session.exec(select(Layer).where(Layer.lot_id == lot.id).order_by(col(Layer.layer_index))).all()
    intervals = (
        chosen
        or session.exec(
            select(OosInterval).where(OosInterval.lot_id == lot.id).order_by(col(OosInterval.id))
        ).all()
    )
    content = {
        "decision": decision.value,
        "scope": "intervals" if chosen else "lot",
        "lot": {"number": lot.number, "kind": lot.kind.value, "status": lot.status.value,
                "length_m": lot.length_m, "recipe_hash": lot.recipe_hash},
        "layers": [{"name": layer.name, "result": layer.result.value} for layer in layers],
        "intervals": [
            {"id": i.id, "characteristic": names.get(i.characteristic_id, ""), "kind": i.kind.value,
             "start_m": i.start_m, "end_m": i.end_m, "worst": i.worst_value, "limit": i.limit_value,
             "limit_kind": i.limit_kind, "status": i.status.value}
            for i in intervals
        ],
    }  # fmt: skip
    result: dict[str, Any] = json_safe(content)
    return result


def canonical_json(content: Any) -> str:
    """Keys sorted, no white space, UTF-8 characters as they are, non-finite numbers as null."""
    return json.dumps(json_safe(content), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)  # fmt: skip


def content_sha256(content: Any) -> str:
    """The SHA-256 (hex) of the canonical JSON of ``content`` in UTF-8."""
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()
