"""The OpenAPI 3.1 description of the DICOMweb door, served at /openapi.json and /docs.

Written out rather than generated: the DICOMweb resources are defined by
PS3.18, not by our handler signatures, and the description states the
standard's media types and status codes that each resource answers with.
"""

from __future__ import annotations

import html
from typing import Any

_STUDY = {"name": "study", "in": "path", "required": True, "schema": {"type": "string"},
          "description": "Study Instance UID"}
_SERIES = {"name": "series", "in": "path", "required": True, "schema": {"type": "string"},
           "description": "Series Instance UID"}
_INSTANCE = {"name": "instance", "in": "path", "required": True, "schema": {"type": "string"},
             "description": "SOP Instance UID"}
_FRAMES = {"name": "frames", "in": "path", "required": True, "schema": {"type": "string"},
           "description": "Comma-separated 1-based frame numbers"}
_QIDO_PARAMS = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 0}},
    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
    {"name": "includefield", "in": "query", "schema": {"type": "string"},
     "description": "Keyword, tag (ggggeeee) or `all`; repeatable"},
    {"name": "fuzzymatching", "in": "query", "schema": {"type": "boolean"}},
]
_ERRORS = {
    "400": {"description": "Malformed request (reason in body and Warning header)"},
    "404": {"description": "No such study, series, instance or frame"},
    "406": {"description": "No acceptable representation (Accept)"},
    "503": {"description": "Storage or database unavailable; retry"},
}


def _op(summary: str, params: list[dict[str, Any]], responses: dict[str, str],
        *, query: bool = False) -> dict[str, Any]:
    answered = {code: {"description": text} for code, text in responses.items()}
    return {
        "summary": summary,
        "parameters": params + (_QIDO_PARAMS if query else []),
        "responses": {**answered, **_ERRORS},
    }


def _levels() -> dict[str, tuple[str, list[dict[str, Any]]]]:
    return {
        "/studies/{study}": ("study", [_STUDY]),
        "/studies/{study}/series/{series}": ("series", [_STUDY, _SERIES]),
        "/studies/{study}/series/{series}/instances/{instance}": (
            "instance", [_STUDY, _SERIES, _INSTANCE]),
    }


def build_openapi() -> dict[str, Any]:
    ok_dicom = {"200": "multipart/related; type=\"application/dicom\""}
    stow = {"200": "All stored (application/dicom+json)",
            "202": "Some stored, warnings or failures",
            "409": "None stored", "413": "Too large", "415": "Unsupported media type"}
    paths: dict[str, Any] = {
        "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "ok"}}}},
        "/dicom-web/studies": {
            "get": _op("QIDO-RS search for studies", [], {"200": "application/dicom+json"},
                       query=True),
            "post": _op("STOW-RS store instances", [], stow),
        },
        "/dicom-web/series": {"get": _op("QIDO-RS search for series", [],
                                         {"200": "application/dicom+json"}, query=True)},
        "/dicom-web/instances": {"get": _op("QIDO-RS search for instances", [],
                                            {"200": "application/dicom+json"}, query=True)},
        "/dicom-web/studies/{study}/series": {"get": _op(
            "QIDO-RS series of a study", [_STUDY], {"200": "application/dicom+json"}, query=True)},
        "/dicom-web/studies/{study}/instances": {"get": _op(
            "QIDO-RS instances of a study", [_STUDY], {"200": "application/dicom+json"},
            query=True)},
        "/dicom-web/studies/{study}/series/{series}/instances": {"get": _op(
            "QIDO-RS instances of a series", [_STUDY, _SERIES],
            {"200": "application/dicom+json"}, query=True)},
    }
    for path, (level, params) in _levels().items():
        entry: dict[str, Any] = {
            "get": _op(f"WADO-RS retrieve {level}", params, ok_dicom),
            "delete": _op(f"Delete {level}", params, {"204": "Deleted"}),
        }
        if path == "/studies/{study}":
            entry["post"] = _op("STOW-RS store instances of this study", params, stow)
        paths["/dicom-web" + path] = entry
        paths["/dicom-web" + path + "/metadata"] = {
            "get": _op(f"WADO-RS {level} metadata", params, {"200": "application/dicom+json"})}
        paths["/dicom-web" + path + "/rendered"] = {
            "get": _op(f"Rendered {level}", params, {"200": "image/png or image/jpeg"})}
        paths["/dicom-web" + path + "/thumbnail"] = {
            "get": _op(f"Thumbnail of {level}", params, {"200": "image/png or image/jpeg"})}
    instance = "/dicom-web/studies/{study}/series/{series}/instances/{instance}"
    base = [_STUDY, _SERIES, _INSTANCE]
    paths[instance + "/frames/{frames}"] = {"get": _op(
        "WADO-RS frames", [*base, _FRAMES],
        {"200": "multipart/related; type=\"application/octet-stream\" or compressed"})}
    paths[instance + "/frames/{frames}/rendered"] = {"get": _op(
        "Rendered frame", [*base, _FRAMES], {"200": "image/png or image/jpeg"})}
    paths[instance + "/bulk/{path}"] = {"get": _op(
        "Bulk data of an attribute", [*base, {"name": "path", "in": "path", "required": True,
                                               "schema": {"type": "string"}}],
        {"200": "multipart/related; type=\"application/octet-stream\""})}
    return {
        "openapi": "3.1.0",
        "info": {"title": "dicomvault DICOMweb", "version": "1",
                 "description": "DICOMweb (PS3.18) services of a dicomvault node."},
        "paths": paths,
    }


def render_docs_page(spec: dict[str, Any]) -> str:
    """A self-contained HTML listing of the description (no external scripts)."""
    rows = []
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            codes = ", ".join(operation["responses"])
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code>"
                f"</td><td>{html.escape(operation['summary'])}</td><td>{codes}</td></tr>"
            )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<title>dicomvault API</title></head><body><h1>dicomvault DICOMweb API</h1>"
        "<p>Machine-readable description: <a href=/openapi.json>/openapi.json</a> "
        "(OpenAPI 3.1).</p><table><thead><tr><th>Method</th><th>Path</th><th>Summary</th>"
        "<th>Responses</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></body></html>"
    )
