"""Who may do what: request context, principals and policy."""

from dicomvault.access.context import Door, RequestContext, system_context

__all__ = ["Door", "RequestContext", "system_context"]
