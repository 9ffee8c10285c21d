"""The web dashboard: server-rendered pages over the same workspace, sign-in and roles as the
REST API. Pages read through the server's ``LocalWorkspace``; every button that changes
something calls the REST API from the browser (with the session cookie and its CSRF token), so
a page can never do what the API would refuse."""

from lepton.server.dashboard._app import install

__all__ = ["install"]
