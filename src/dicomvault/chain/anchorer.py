"""The anchoring daemon: queue new checkpoints and agreement events, anchor the backlog.

Each pass first collects (database only, so it works while the chain is
down), then drains the backlog in order while the chain answers:

* Of several pending checkpoints of one log only the largest is sent; the
  others become ``superseded`` (the anchored root covers them: a consistency
  proof links any older tree head to it). After an outage the backlog thus
  drains in one transaction per log, not one per missed interval.
* Before sending, the chain is read: a checkpoint or agreement already there
  (a crash after the transaction, before the row was settled) is settled as
  anchored, never sent twice.
* An unreachable chain stops the pass and leaves the row pending (its
  attempt counted); the next pass retries. A contract refusal settles the
  row as ``refused`` with the reason and records a ``witness_alarm`` ledger
  event when it concerns a checkpoint root (the chain holds another root for
  this log's tree size: one of the two histories was rewritten).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from dicomvault.chain.backlog import Backlog, BacklogItem, Kind, State
from dicomvault.chain.client import ChainClient
from dicomvault.chain.records import AgreementStatus
from dicomvault.daemon import Daemon
from dicomvault.errors import ChainRefusedError, ChainUnavailableError
from dicomvault.ledger import Checkpoint, EventType

log = logging.getLogger(__name__)

#: Records a ledger event (``Archive.record_event`` with the system's context).
RecordEvent = Callable[[EventType, dict[str, str | int | bool]], None]


@dataclass(slots=True)
class AnchorReport:
    """What one pass did."""

    collected: int = 0
    anchored: int = 0
    superseded: int = 0
    refused: list[str] = field(default_factory=list)
    unavailable: str | None = None
    transactions: list[str] = field(default_factory=list)


class Anchorer:
    """Anchors this node's backlog through ``client``."""

    def __init__(self, backlog: Backlog, client: ChainClient,
                 record: RecordEvent | None = None) -> None:
        self.backlog = backlog
        self.client = client
        self.record = record

    def run(self) -> AnchorReport:
        """Collect, then anchor what is pending (see the module docstring)."""
        report = AnchorReport(collected=self.backlog.collect())
        items = self.backlog.pending()
        if not items:
            return report
        try:
            account = self.client.sender
            if not self.client.is_member(account):
                report.unavailable = (f"account {account} is not (yet) a member of the "
                                      "consortium registry; the backlog waits")
                return report
        except ChainUnavailableError as exc:
            report.unavailable = exc.message
            return report
        for item in self._supersede_older_checkpoints(items, report):
            try:
                self._anchor(item, report)
            except ChainUnavailableError as exc:
                self.backlog.failed_attempt(item.id, exc.message)
                report.unavailable = exc.message
                break
            except ChainRefusedError as exc:
                self._refused(item, exc.message, report)
        return report

    def _supersede_older_checkpoints(self, items: list[BacklogItem], report: AnchorReport
                                     ) -> list[BacklogItem]:
        largest: dict[str, BacklogItem] = {}
        for item in items:
            if item.kind is Kind.CHECKPOINT and item.origin is not None:
                best = largest.get(item.origin)
                if best is None or (item.tree_size or 0) >= (best.tree_size or 0):
                    largest[item.origin] = item
        keep = {item.id for item in largest.values()}
        older = [item.id for item in items if item.kind is Kind.CHECKPOINT and item.id not in keep]
        if older:
            self.backlog.settle(older, State.SUPERSEDED)
            report.superseded += len(older)
        return [item for item in items if item.kind is not Kind.CHECKPOINT or item.id in keep]

    def _anchor(self, item: BacklogItem, report: AnchorReport) -> None:
        if item.kind is Kind.CHECKPOINT:
            self._anchor_checkpoint(item, report)
        else:
            self._anchor_agreement(item, report)

    def _anchor_checkpoint(self, item: BacklogItem, report: AnchorReport) -> None:
        assert item.origin is not None and item.tree_size is not None
        assert item.root_hash is not None
        latest = self.client.latest_anchor(item.origin)
        if latest is not None and latest.tree_size >= item.tree_size:
            below, _ = self.client.anchors_around(item.origin, item.tree_size)
            if below is not None and below.tree_size == item.tree_size:
                if below.root_hash != item.root_hash:
                    raise ChainRefusedError(
                        f"the chain holds another root for tree size {item.tree_size} of "
                        f"{item.origin}: one of the two histories was rewritten")
                self.backlog.settle([item.id], State.ANCHORED)  # sent before a crash
                report.anchored += 1
            else:
                self.backlog.settle([item.id], State.SUPERSEDED)
                report.superseded += 1
            return
        receipt = self.client.anchor_checkpoint(Checkpoint(
            item.origin, item.tree_size, item.root_hash, item.checkpoint_time or None))
        self.backlog.settle([item.id], State.ANCHORED, tx_hash=receipt.tx_hash,
                            block_number=receipt.block_number)
        report.anchored += 1
        report.transactions.append(receipt.tx_hash)

    def _anchor_agreement(self, item: BacklogItem, report: AnchorReport) -> None:
        assert item.share_key is not None and item.agreement_sha256 is not None
        current = self.client.agreement(item.share_key)
        wanted = AgreementStatus.GRANTED if item.kind is Kind.GRANT else AgreementStatus.REVOKED
        if current is not None and current.agreement_sha256 != item.agreement_sha256:
            raise ChainRefusedError("the share is anchored with another agreement digest")
        if current is not None and (current.status is wanted
                                    or current.status is AgreementStatus.REVOKED):
            self.backlog.settle([item.id], State.ANCHORED)  # already there
            report.anchored += 1
            return
        if item.kind is Kind.GRANT:
            receipt = self.client.grant_agreement(item.share_key, item.agreement_sha256)
        else:
            receipt = self.client.revoke_agreement(item.share_key, item.agreement_sha256)
        self.backlog.settle([item.id], State.ANCHORED, tx_hash=receipt.tx_hash,
                            block_number=receipt.block_number)
        report.anchored += 1
        report.transactions.append(receipt.tx_hash)

    def _refused(self, item: BacklogItem, reason: str, report: AnchorReport) -> None:
        self.backlog.settle([item.id], State.REFUSED, reason=reason)
        report.refused.append(reason)
        log.error("the consortium chain refused backlog row %s (%s): %s",
                  item.id, item.kind.value, reason)
        if self.record is not None and item.kind is Kind.CHECKPOINT:
            assert item.root_hash is not None
            self.record(EventType.WITNESS_ALARM, {
                "origin": item.origin or "", "tree_size": item.tree_size or 0,
                "root_hash": item.root_hash.hex(), "previous_size": 0,
                "reason": f"consortium chain: {reason}"[:200]})


class AnchorDaemon(Daemon):
    """Runs :meth:`Anchorer.run` every ``interval_seconds`` beside the server."""

    name = "chain-anchor"

    def __init__(self, anchorer: Anchorer, interval_seconds: float) -> None:
        super().__init__(interval_seconds)
        self.anchorer = anchorer

    def run_once(self) -> None:
        report = self.anchorer.run()
        if report.unavailable is not None:
            log.warning("consortium chain unavailable, backlog kept: %s", report.unavailable)
        if report.anchored:
            log.info("anchored %s item(s) on the consortium chain", report.anchored)
