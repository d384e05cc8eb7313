"""What a worker or web process holds for its lifetime: settings, database, models, senders.

Models load once per process, lazily, and derived indexes (the intent classifier, snippet
vectors) are rebuilt only when the content they derive from changes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from responder.channels.delivery import Sender
from responder.channels.maildir_outbox import MaildirOutbox
from responder.channels.smtp import SmtpSender
from responder.channels.social.senders import SenderByKind, SocialSender
from responder.classify.embedder import Embedder
from responder.classify.nearest import NearestExampleClassifier
from responder.config import Settings
from responder.content import live_snippets
from responder.db.models import ClassifierExample, Snippet
from responder.db.session import make_engine, make_session_factory
from responder.drafting.entities import EntityExtractor
from responder.knowledge.retrieve import IndexedSnippet


@dataclass(frozen=True)
class SnippetIndex:
    snippets: tuple[IndexedSnippet, ...]
    vectors: np.ndarray


class Runtime:
    def __init__(
        self, settings: Settings, engine: Engine | None = None, embedder: Embedder | None = None
    ) -> None:
        self.settings = settings
        self.engine = engine or make_engine(
            settings.database.url,
            echo=settings.database.echo,
            base_dir=settings.path("."),
        )
        self.factory: sessionmaker[Session] = make_session_factory(self.engine)
        self.embedder = embedder or Embedder(
            settings.models.embedding_path,
            settings.models.device,
            settings.models.batch_size,
            backend=settings.models.backend,
            cache_dir=settings.path(settings.models.cache_dir),
        )
        self._lock = threading.Lock()
        self._intent: tuple[tuple[int, int], NearestExampleClassifier] | None = None
        self._snippets: tuple[tuple[int, ...], SnippetIndex] | None = None
        self._vectors: OrderedDict[int, np.ndarray] = OrderedDict()

    @property
    def own_addresses(self) -> frozenset[str]:
        addresses = {self.settings.outbound.from_address.lower()}
        if self.settings.maildir.address:
            addresses.add(self.settings.maildir.address.lower())
        return frozenset(addresses)

    @cached_property
    def sender(self) -> Sender:
        """Picks the sender by the reply's channel kind: email, or a social platform's API."""
        email: Sender
        if self.settings.outbound.transport == "smtp":
            email = SmtpSender(self.settings.smtp, self.settings.outbound)
        else:
            email = MaildirOutbox(self.settings.path(self.settings.outbound.sent_maildir))
        return SenderByKind(email, SocialSender(self.settings.social))

    @cached_property
    def entity_extractor(self) -> EntityExtractor:
        """spaCy loads on first use (not at start-up), once per process."""
        return EntityExtractor(
            self.settings.models.spacy_model,
            plans=self.settings.drafting.plan_names,
            competitors=self.settings.churn.competitors,
            phone_region=self.settings.customers.default_region,
            batch_size=self.settings.models.batch_size,
        )

    def message_vectors(self, ids: Sequence[int], texts: Sequence[str]) -> np.ndarray:
        """Each message text is embedded once; later stages reuse the vector."""
        missing = [(i, t) for i, t in zip(ids, texts, strict=True) if i not in self._vectors]
        if missing:
            encoded = self.embedder.encode([t for _, t in missing])
            with self._lock:
                for (message_id, _), vector in zip(missing, encoded, strict=True):
                    self._vectors[message_id] = vector
                while len(self._vectors) > 10_000:
                    self._vectors.popitem(last=False)
        return np.stack([self._vectors[i] for i in ids]) if ids else np.zeros((0, 0))

    def intent_classifier(self, session: Session) -> NearestExampleClassifier:
        fingerprint = session.execute(
            select(
                func.count(ClassifierExample.id), func.coalesce(func.max(ClassifierExample.id), 0)
            ).where(ClassifierExample.classifier == "intent", ClassifierExample.status == "active")
        ).one()
        key = (int(fingerprint[0]), int(fingerprint[1]))
        if self._intent and self._intent[0] == key:
            return self._intent[1]
        rows = session.execute(
            select(ClassifierExample.text, ClassifierExample.label).where(
                ClassifierExample.classifier == "intent", ClassifierExample.status == "active"
            )
        ).all()
        if not rows:
            raise RuntimeError("no intent examples: load classifiers/ with `responder db upgrade`")
        vectors = self.embedder.encode([r.text for r in rows])
        classifier = NearestExampleClassifier(threshold=self.settings.classify.intent_threshold)
        classifier.fit(vectors, [r.label for r in rows])
        self._intent = (key, classifier)
        return classifier

    def snippet_index(self, session: Session) -> SnippetIndex:
        live: list[Snippet] = live_snippets(session)
        key = tuple(sorted(s.id for s in live))
        if self._snippets and self._snippets[0] == key:
            return self._snippets[1]
        indexed = tuple(
            IndexedSnippet(
                id=s.id,
                key=s.key,
                version=s.version,
                title=s.title,
                body=s.body,
                intents=tuple(s.intents or ()),
                language=s.language,
                filters=dict(s.filters or {}),
                tags=tuple(s.tags or ()),
            )
            for s in live
        )
        texts = [s.embedding_text for s in indexed]
        index = SnippetIndex(indexed, self.embedder.encode(texts))
        self._snippets = (key, index)
        return index
