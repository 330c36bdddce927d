"""Backup, restore, scrub, fsck and replication: never lose an acknowledged image.

Public names::

    run_backup      one incremental generation to a target (directory or s3://)
    verify_backup   re-read and check every generation of a target
    restore         rebuild an empty node from a generation, verifying everything
    Scrubber        re-verify every blob, repair from replica or backup
    ScrubDaemon     the scheduled scrub
    fsck            clean up after interrupted writes
    ReplicationDaemon, DatabaseReplicationQueue   asynchronous replication
    open_target     a BackupTarget from a location

See docs/backup.md for what an operator keeps where.
"""

from dicomvault.backup.fsck import FsckReport, fsck
from dicomvault.backup.replication import DatabaseReplicationQueue, ReplicationDaemon, drain
from dicomvault.backup.restore import RestoreReport, WitnessedCheckpoint, restore
from dicomvault.backup.run import BackupReport, run_backup
from dicomvault.backup.scrub import Scrubber, ScrubDaemon, ScrubReport
from dicomvault.backup.target import BackupTarget, open_target
from dicomvault.backup.verify import VerifyReport, verify_backup

__all__ = [
    "BackupReport",
    "BackupTarget",
    "DatabaseReplicationQueue",
    "FsckReport",
    "ReplicationDaemon",
    "RestoreReport",
    "ScrubDaemon",
    "ScrubReport",
    "Scrubber",
    "VerifyReport",
    "WitnessedCheckpoint",
    "drain",
    "fsck",
    "open_target",
    "restore",
    "run_backup",
    "verify_backup",
]
