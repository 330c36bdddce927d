"""The DICOMweb routes: one-to-one onto PS3.18 resources.

Each handler is a thin adapter in its own module (``stow``, ``qido``,
``wado``, ``rendered``); :mod:`dicomvault.server` mounts these routes beside
the other HTTP doors.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from dicomvault.dicomweb import qido, rendered, stow, wado

_STUDY = "/dicom-web/studies/{study}"
_SERIES = _STUDY + "/series/{series}"
_INSTANCE = _SERIES + "/instances/{instance}"


def routes() -> list[BaseRoute]:
    return [
        # STOW-RS (PS3.18 10.5)
        Route("/dicom-web/studies", stow.stow, methods=["POST"]),
        Route(_STUDY, stow.stow, methods=["POST"]),
        # QIDO-RS (PS3.18 10.6)
        Route("/dicom-web/studies", qido.search_studies, methods=["GET"]),
        Route("/dicom-web/series", qido.search_series, methods=["GET"]),
        Route("/dicom-web/instances", qido.search_instances, methods=["GET"]),
        Route(_STUDY + "/series", qido.search_series, methods=["GET"]),
        Route(_STUDY + "/instances", qido.search_instances, methods=["GET"]),
        Route(_SERIES + "/instances", qido.search_instances, methods=["GET"]),
        # WADO-RS (PS3.18 10.4)
        Route(_STUDY, wado.retrieve, methods=["GET"]),
        Route(_SERIES, wado.retrieve, methods=["GET"]),
        Route(_INSTANCE, wado.retrieve, methods=["GET"]),
        Route(_STUDY + "/metadata", wado.metadata, methods=["GET"]),
        Route(_SERIES + "/metadata", wado.metadata, methods=["GET"]),
        Route(_INSTANCE + "/metadata", wado.metadata, methods=["GET"]),
        Route(_INSTANCE + "/frames/{frames}", wado.frames, methods=["GET"]),
        Route(_INSTANCE + "/bulk/{path:path}", wado.bulkdata, methods=["GET"]),
        Route(_INSTANCE + "/rendered", rendered.rendered_instance, methods=["GET"]),
        Route(_INSTANCE + "/frames/{frames}/rendered", rendered.rendered_frames,
              methods=["GET"]),
        Route(_STUDY + "/thumbnail", rendered.thumbnail, methods=["GET"]),
        Route(_SERIES + "/thumbnail", rendered.thumbnail, methods=["GET"]),
        Route(_INSTANCE + "/thumbnail", rendered.thumbnail, methods=["GET"]),
        Route(_INSTANCE + "/frames/{frames}/thumbnail", rendered.thumbnail, methods=["GET"]),
        # Deletion (not part of PS3.18; the dcm4chee / Orthanc convention)
        Route(_STUDY, wado.delete, methods=["DELETE"]),
        Route(_SERIES, wado.delete, methods=["DELETE"]),
        Route(_INSTANCE, wado.delete, methods=["DELETE"]),
    ]
