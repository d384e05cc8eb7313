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
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from responder.channels.delivery import Sender
from responder.channels.maildir_outbox import MaildirOutbox
from responder.channels.smtp import SmtpSender
from responder.channels.social.senders import SenderByKind, SocialSender
from responder.classify.embedder import Embedder
from responder.classify.language import LanguageIdentifier
from responder.classify.predict import LoadedClassifier
from responder.classify.service import train_named
from responder.classify.store import active_model_ids, load_classifier
from responder.classify.stored_vectors import encode_stored
from responder.config import Settings
from responder.content import live_snippets
from responder.db.models import ClassifierModel, Snippet
from responder.db.session import (
    make_engine,
    make_read_factory,
    make_session_factory,
    transaction,
)
from responder.drafting.entities import EntityExtractor
from responder.knowledge.retrieve import IndexedSnippet
from responder.users import use_hash_cost


@dataclass(frozen=True)
class SnippetIndex:
    snippets: tuple[IndexedSnippet, ...]
    vectors: np.ndarray


class Runtime:
    def __init__(
        self, settings: Settings, engine: Engine | None = None, embedder: Embedder | None = None
    ) -> None:
        self.settings = settings
        use_hash_cost(settings.web.password_hash_time_cost, settings.web.password_hash_memory_kib)
        self.engine = engine or make_engine(
            settings.database.url,
            echo=settings.database.echo,
            base_dir=settings.path("."),
        )
        self.factory: sessionmaker[Session] = make_session_factory(self.engine)
        self.read_factory: sessionmaker[Session] = make_read_factory(self.engine)
        self.embedder = embedder or Embedder(
            settings.models.embedding_path,
            settings.models.device,
            settings.models.batch_size,
            backend=settings.models.backend,
            cache_dir=settings.path(settings.models.cache_dir),
            threads=settings.models.threads,
        )
        self._lock = threading.Lock()
        self._train_lock = threading.Lock()
        self._classifiers: dict[int, LoadedClassifier] = {}
        self._snippets: tuple[tuple[int, ...], SnippetIndex] | None = None
        self._vectors: OrderedDict[int, np.ndarray] = OrderedDict()

    @property
    def own_addresses(self) -> frozenset[str]:
        addresses = {self.settings.outbound.from_address.lower()}
        if self.settings.maildir.address:
            addresses.add(self.settings.maildir.address.lower())
        addresses.update(m.address.lower() for m in self.settings.imap.mailboxes if m.address)
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

    @cached_property
    def language_identifier(self) -> LanguageIdentifier:
        return LanguageIdentifier(self.settings.classify.languages)

    def classifiers(self, names: Sequence[str]) -> dict[str, LoadedClassifier]:
        """The active model of each name, deserialized once per model id.

        A name with no trained model yet (a fresh install) is trained now from its examples,
        so the embedded default classifies out of the box.
        """
        with self.factory() as session:
            ids = active_model_ids(session, names)
        if len(ids) < len(names):
            with self._train_lock, transaction(self.factory) as session:
                ids = active_model_ids(session, names)
                for name in names:
                    if name not in ids:
                        result = train_named(
                            session,
                            self.embedder,
                            self.settings.path(self.settings.classify.definitions_dir),
                            name,
                            created_by="startup",
                            holdout=False,
                        )
                        ids[name] = result.model.id
        found = {}
        for name in names:
            model_id = ids[name]
            if model_id not in self._classifiers:
                with self.factory() as session:
                    model = session.get(ClassifierModel, model_id)
                    assert model is not None
                    loaded = load_classifier(model)
                with self._lock:
                    self._classifiers[model_id] = loaded
            found[name] = self._classifiers[model_id]
        return found

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
        index = SnippetIndex(indexed, encode_stored(self.factory, self.embedder, texts))
        self._snippets = (key, index)
        return index
