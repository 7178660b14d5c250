"""JSON-LD @context resolution and the ``/jsonldContexts`` store (clause 5.13).

The platform is air-gapped by default. A context URL resolves, in this order, from:
1. the bundled contexts: the core context (every published URL of it) and the platform's own
   (``BUNDLED_CONTEXTS``, files shipped in the package);
2. the tenant's stored contexts (hosted ones by their own URL, cached ones by their origin URL);
3. the operator's pinned contexts (files under ``<data_dir>/pinned``, see ``territoires contexts pin``);
4. a download, only for URLs on the operator's allow-list, then kept as a cached context.
Anything else is ``LdContextNotAvailable``.
"""

from __future__ import annotations

import functools
import hashlib
import urllib.request
import uuid
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from territoires import clock
from territoires.broker.context_uses import ContextUses
from territoires.config import Settings
from territoires.ngsild import context as ldcontext
from territoires.ngsild.errors import BadRequestData, InvalidRequest, LdContextNotAvailable, ResourceNotFound
from territoires.store.port import Store, StoredContext

HOSTED_PATH = "/ngsi-ld/v1/jsonldContexts/"
KINDS = ("Hosted", "Cached", "ImplicitlyCreated")
OBSERVATORY_CONTEXT_URL = "https://territoires.example/ns/v1/territoires-context.jsonld"
# Published URL -> (package, file) of the contexts the platform itself publishes: named by data,
# not imported, so that the broker depends on no domain module.
BUNDLED_CONTEXTS: dict[str, tuple[str, str]] = {
    OBSERVATORY_CONTEXT_URL: ("territoires.observatoire", "context/territoires-context.jsonld"),
}


class ContextService:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.pinned_dir = settings.data_dir / "pinned"
        self.uses = ContextUses(store)
        self._stored: set[tuple[str, str]] = set()  # (tenant, URL) resolved from the tenant's stored contexts

    # ---- compiling request contexts --------------------------------------------------------
    def compile(self, tenant: str, value: Any, *, counted: bool = True) -> ldcontext.Context:
        """The active context for a request's @context value (None: core context only); each
        stored context it uses counts one use, compiled anew or not, unless not ``counted``
        (the broker's own checks and notifications are no use of a caller's)."""
        context = ldcontext.compile_context(value, lambda url: self._resolve(tenant, url), scope=tenant)
        for url in context.urls if counted else ():
            if (tenant, url) in self._stored:
                self.uses.used(tenant, self._stored_id(url))
        return context

    def _resolve(self, tenant: str, url: str) -> Any:
        if url in ldcontext.CORE_CONTEXT_URLS:
            return ldcontext.core_context_document()
        if url in BUNDLED_CONTEXTS:
            return bundled_context_document(url)
        with self.store.session(tenant) as session:
            stored = session.get_context(self._stored_id(url))
        if stored is not None:
            self._stored.add((tenant, url))
            return stored.body
        body = self._fetch(url)
        # What was fetched is kept as a cached context of the tenant, listed and deletable (clause 5.13.3).
        with self.store.session(tenant, write=True) as session:
            if session.get_context(url) is None:
                session.put_context(StoredContext(url, "Cached", body, clock.now()))
        self._stored.add((tenant, url))
        return body

    def _fetch(self, url: str) -> Any:
        """The document at a remote URL: from the operator's pinned files, else downloaded if allowed."""
        pinned = self._pinned_path(url)
        if pinned.exists():
            return _parse_document(pinned.read_bytes(), url)
        if url in self.settings.context_allow_list:
            return self._download(url)
        raise LdContextNotAvailable(
            f"the @context {url} is neither stored nor pinned on this air-gapped platform; "
            "store it with POST /ngsi-ld/v1/jsonldContexts or ask the operator to pin or allow it"
        )

    @staticmethod
    def _stored_id(url: str) -> str:
        """Hosted contexts are stored under their id; a URL of ours names one by its last segment."""
        if HOSTED_PATH in url:
            return url.rsplit(HOSTED_PATH, 1)[1]
        return url

    def _download(self, url: str) -> Any:
        try:
            with urllib.request.urlopen(url, timeout=self.settings.context_fetch_timeout) as response:
                return _parse_document(response.read(2_000_001), url)
        except OSError as error:
            raise LdContextNotAvailable(f"the @context {url} could not be downloaded: {error}") from None

    # ---- pinned contexts (operator) ---------------------------------------------------------
    def _pinned_path(self, url: str) -> Path:
        return self.pinned_dir / (hashlib.sha256(url.encode()).hexdigest() + ".jsonld")

    def pin(self, url: str, document: bytes) -> None:
        """Make ``url`` resolve to ``document`` for every tenant, without any download."""
        _parse_document(document, url)
        self.pinned_dir.mkdir(parents=True, exist_ok=True)
        self._pinned_path(url).write_bytes(document)
        ldcontext.forget(url)

    # ---- /jsonldContexts --------------------------------------------------------------------
    def add(self, tenant: str, body: Any) -> StoredContext:
        """Store a hosted context (POST /jsonldContexts): ``body`` is {"@context": …}."""
        if not isinstance(body, dict) or "@context" not in body:
            raise InvalidRequest('a context to store must be a JSON object with an "@context" member')
        value = body["@context"]
        if not isinstance(value, (dict, list, str)):
            raise BadRequestData("@context must be an object, an array or a URL")
        # Refuse a malformed context now; the URLs it names are only resolved when it is used.
        ldcontext.compile_context(value, lambda url: {"@context": {}}, scope="\0check")
        stored = StoredContext(uuid.uuid4().hex, "Hosted", {"@context": value}, clock.now())
        with self.store.session(tenant, write=True) as session:
            session.put_context(stored)
        return stored

    def get(self, tenant: str, context_id: str) -> StoredContext:
        if context_id in ldcontext.CORE_CONTEXT_URLS:
            return StoredContext(context_id, "Cached", ldcontext.core_context_document(), "1970-01-01T00:00:00Z")
        self.uses.flush()  # its hits and last usage, as of now
        with self.store.session(tenant) as session:
            stored = session.get_context(self._stored_id(context_id))
        if stored is None:
            raise ResourceNotFound(f"no stored @context with id {context_id}")
        self.uses.used(tenant, stored.id)  # serving it is a use too (the suite's 053_06), counted after
        return stored

    def list(self, tenant: str, kind: str | None = None) -> list[StoredContext]:
        if kind is not None and kind not in KINDS:
            raise BadRequestData(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        self.uses.flush()
        with self.store.session(tenant) as session:
            return session.list_contexts(kind)

    def delete(self, tenant: str, context_id: str, *, reload: bool = False) -> None:
        """Delete a stored context, or with ``reload`` fetch a cached one again (clause 5.13.5)."""
        if context_id in ldcontext.CORE_CONTEXT_URLS:
            if not reload:
                raise BadRequestData("the core @context cannot be deleted; reload=true reloads it")
            return  # the core context is bundled: reloading it is reading the same file again
        stored_id = self._stored_id(context_id)
        with self.store.session(tenant, write=True) as session:
            stored = session.get_context(stored_id)
            if reload:
                if stored is None or stored.kind != "Cached":
                    raise BadRequestData("reload=true applies to cached contexts only")
                session.delete_context(stored_id)
                session.put_context(StoredContext(stored.id, "Cached", self._fetch(stored.id), clock.now()))
            elif stored is None:
                raise ResourceNotFound(f"no stored @context with id {context_id}")
            else:
                session.delete_context(stored_id)
        ldcontext.forget(stored.id)
        self.uses.forget(tenant, stored.id)
        # A copy first: request threads add to the set meanwhile.
        self._stored.difference_update([(t, url) for t, url in list(self._stored)
                                        if t == tenant and self._stored_id(url) == stored.id])


@functools.cache
def bundled_context_document(url: str) -> Any:
    """The document of one of ``BUNDLED_CONTEXTS``, read from the package once."""
    package, name = BUNDLED_CONTEXTS[url]
    return _parse_document(resources.files(package).joinpath(name).read_bytes(), url)


def _parse_document(raw: bytes, url: str) -> Any:
    """The @context document retrieved from ``url``: one that is not a JSON-LD @context is
    BadRequestData, not LdContextNotAvailable (clause 5.5.6)."""
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequestData(f"the @context at {url} is not JSON") from None
    if not isinstance(document, dict) or "@context" not in document:
        raise BadRequestData(f'the document at {url} is not a JSON-LD @context: it has no "@context" member')
    return document
