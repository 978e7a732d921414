"""The images of Label Studio's tasks, fetched as Label Studio serves them: its uploads
(``/data/upload/...``), its local-files storage (``/data/local-files/?d=...``) and any http(s)
URL.

A URL that starts with ``/`` is Label Studio's own, joined to its address; a request to Label
Studio's address carries its token: a legacy API token as ``Token <key>``; a personal access token
(a JWT) is first exchanged for a short-lived access token at ``/api/token/refresh/`` (Label Studio
refuses the personal token itself on its files), renewed when refused. The address and token come
from ``LABEL_STUDIO_URL`` and ``LABEL_STUDIO_API_KEY`` (or the command line's address), else from
what Label Studio says in ``/setup`` (its hostname and the project owner's token). Cloud storage
URIs (``s3://``, ``gs://``, ...) are not read: an error says so.

Written with urllib: five kinds of request, no session or retry logic that ``requests`` would add.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.parse
import urllib.request

from .labelstudio import TaskError


class LabelStudioImages:
    def __init__(self, url: str | None = None, token: str | None = None, timeout_s: float = 30.0):
        url = url or os.environ.get("LABEL_STUDIO_URL") or None
        token = token or os.environ.get("LABEL_STUDIO_API_KEY") or None
        self.url, self.token, self.timeout_s = url, token, timeout_s
        self.fixed = {"url": url is not None, "token": token is not None}  # what /setup may not replace
        self._access: str | None = None  # from a personal access token
        self._lock = threading.Lock()

    def setup(self, hostname: str | None, access_token: str | None) -> None:
        """What Label Studio's /setup says, where the environment or command line did not."""
        with self._lock:
            if hostname and not self.fixed["url"]:
                self.url = hostname
            if access_token and not self.fixed["token"] and access_token != self.token:
                self.token, self._access = access_token, None

    def describe(self) -> dict:
        kind = None if not self.token else "personal access token" if _is_jwt(self.token) else "legacy token"
        return {"label_studio_url": self.url, "token": kind}

    def fetch(self, url: str, task_id) -> bytes:
        """The bytes of a task's image; a ``TaskError`` naming the task and the URL if it cannot be read."""
        # a file name with spaces or accents, as Label Studio writes local files' URLs: percent-encoded
        # (what is encoded already stays as it is)
        full = urllib.parse.quote(self._absolute(url, task_id), safe=":/?#[]@!$&'()*+,;=%~")
        own = self.url and urllib.parse.urlsplit(full).netloc == urllib.parse.urlsplit(self.url).netloc
        for attempt in (0, 1):
            request = urllib.request.Request(full)
            if own and self.token:
                # not sent on to where a redirect leads (another host)
                request.add_unredirected_header(
                    "Authorization", self._authorization(renew=attempt > 0, task_id=task_id)
                )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    return response.read()
            except urllib.error.HTTPError as e:
                if e.code == 401 and own and self.token and _is_jwt(self.token) and attempt == 0:
                    continue  # the access token expired: renew it once
                raise TaskError(
                    task_id, f"cannot read image {url!r}: HTTP {e.code} {e.reason} from {full}{self._hint(e.code, own)}"
                ) from None
            except (urllib.error.URLError, OSError, ValueError) as e:
                why = getattr(e, "reason", e)
                raise TaskError(task_id, f"cannot read image {url!r}: {why} ({full})") from None
        raise AssertionError("unreachable")

    def _absolute(self, url: str, task_id) -> str:
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme in ("http", "https"):
            return url
        if scheme:
            raise TaskError(
                task_id,
                f"image {url!r}: bbadj serve reads http(s) URLs and Label Studio's uploads and "
                f"local files, not {scheme}:// storage",
            )
        if not url.startswith("/"):
            raise TaskError(task_id, f"image {url!r} is neither a URL nor a path of Label Studio's")
        if not self.url:
            raise TaskError(
                task_id,
                f"image {url!r} is Label Studio's, and its address is not known: set "
                f"LABEL_STUDIO_URL (or --label-studio-url), or connect the model in Label Studio "
                f"so that /setup tells it",
            )
        return self.url.rstrip("/") + url

    def _hint(self, code: int, own: bool) -> str:
        if code in (401, 403) and own:
            return (
                "; set LABEL_STUDIO_API_KEY to the token of a user of the project (Label Studio: Account & Settings)"
                if not self.token
                else "; Label Studio refused the token: give one of a user of the project"
            )
        if code in (401, 403) and self.url:
            return f"; the token is sent only to Label Studio's own address ({self.url})"
        return ""

    def _authorization(self, renew: bool, task_id) -> str:
        if not _is_jwt(self.token):
            return f"Token {self.token}"
        with self._lock:
            if renew or self._access is None:
                self._access = self._refresh(task_id)
            return f"Bearer {self._access}"

    def _refresh(self, task_id) -> str:
        """A personal access token -> an access token (Label Studio's /api/token/refresh/)."""
        request = urllib.request.Request(
            self.url.rstrip("/") + "/api/token/refresh/",
            method="POST",
            data=json.dumps({"refresh": self.token}).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return json.loads(response.read())["access"]
        except (urllib.error.URLError, OSError, ValueError, KeyError) as e:
            raise TaskError(
                task_id,
                f"Label Studio did not exchange the personal access token for an access token "
                f"at {self.url}/api/token/refresh/ ({getattr(e, 'reason', e)}): is it a token "
                f"of this Label Studio, and not revoked?",
            ) from None


def _is_jwt(token: str | None) -> bool:
    """Label Studio's personal access tokens are JWTs (three dot-separated parts); legacy tokens are hex."""
    return bool(token) and token.count(".") == 2
