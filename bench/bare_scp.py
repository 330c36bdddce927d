"""A pynetdicom Storage SCP that keeps nothing: the ceiling of any pynetdicom-based door.

``python -m bench.dimse --floor`` runs it (with and without the reactor bells
of :mod:`dicomvault.dimse.reactor`) to show how fast pynetdicom alone receives
the benchmark's instances on this machine; each C-STORE's data set is taken
off the association as our handler takes it (``encoded_dataset``) and
dropped, and the status is success at once.

    python -m bench.bare_scp --port 11199 [--bells]
"""

from __future__ import annotations

import argparse
from typing import Any

from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.events import Event
from pynetdicom.sop_class import Verification

from dicomvault.dimse import reactor
from dicomvault.dimse.session import set_no_delay


def _keep_nothing(event: Event) -> int:
    event.encoded_dataset(include_meta=True)
    return 0x0000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bells", action="store_true", help="wake the reactors by events")
    parser.add_argument("--max-pdu", type=int, default=1048576)
    args = parser.parse_args()
    ae = AE(ae_title="BARE")
    ae.supported_contexts = AllStoragePresentationContexts
    ae.add_supported_context(Verification)
    ae.maximum_pdu_size = args.max_pdu
    ae.maximum_associations = 8
    handlers: list[Any] = [(evt.EVT_C_STORE, _keep_nothing),
                           (evt.EVT_CONN_OPEN, lambda event: set_no_delay(event.assoc))]
    if args.bells:
        handlers.append((evt.EVT_CONN_OPEN, reactor.on_connection_open))
    ae.start_server(("127.0.0.1", args.port), block=True, evt_handlers=handlers)


if __name__ == "__main__":
    main()
