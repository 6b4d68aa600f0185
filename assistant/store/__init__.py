"""The review store: tenants, API keys, questions with their drafts, the append-only review trail, experts' tag
corrections and the knowledge reviews teach.

SQLAlchemy Core on SQLite (the embedded default) or PostgreSQL (``ERP_ASSIST_DATABASE_URL=postgresql+psycopg://…``,
for several API processes sharing one store); numbered migrations, one short transaction per write. Plain
functions with keyword-only arguments; no ORM session leaks out.

Every API key, question and learned FAQ row belongs to one tenant. Every function that reads or changes
questions takes a required ``tenant`` and filters by it here, in the store: another tenant's question id is
indistinguishable from a missing one.
"""

from assistant.store.engine import ConflictError, NotFoundError, open_store
from assistant.store.hygiene import list_resolutions, record_resolution, source_usage
from assistant.store.keys import (
    ApiKey,
    KeyInfo,
    Role,
    UiSession,
    create_key,
    create_session,
    end_session,
    find_key,
    find_session,
    list_keys,
    revoke_key,
)
from assistant.store.outcomes import ReviewOutcome, review_outcomes
from assistant.store.questions import (
    StoredQuestion,
    StoredReview,
    StoredSuggestion,
    TagCorrection,
    correct_tags,
    expert_labelled_questions,
    get_question,
    learned_documents,
    list_queue,
    record_question,
    record_review,
    reopen_question,
)
from assistant.store.schema import (
    SCHEMA_VERSION,
    api_keys,
    learned,
    metadata,
    questions,
    reviews,
    schema_version,
    suggestions,
    kb_resolutions,
    tag_corrections,
    tenants,
    ui_sessions,
)
from assistant.store.stats import review_stats, tag_changes
from assistant.store.tenants import Tenant, TenantSummary, create_tenant, get_tenant, list_tenants
from erp_assist.errors import StoreBusyError
from erp_assist.settings import validate_tenant_id

__all__ = [
    "Role",
    "Tenant",
    "TenantSummary",
    "ApiKey",
    "KeyInfo",
    "UiSession",
    "StoredQuestion",
    "StoredSuggestion",
    "StoredReview",
    "TagCorrection",
    "NotFoundError",
    "ConflictError",
    "StoreBusyError",
    "open_store",
    "validate_tenant_id",
    "create_tenant",
    "get_tenant",
    "list_tenants",
    "record_question",
    "get_question",
    "list_queue",
    "record_review",
    "reopen_question",
    "learned_documents",
    "ReviewOutcome",
    "review_outcomes",
    "create_key",
    "find_key",
    "list_keys",
    "revoke_key",
    "create_session",
    "find_session",
    "end_session",
    "review_stats",
    "tag_changes",
    "correct_tags",
    "expert_labelled_questions",
    "list_resolutions",
    "record_resolution",
    "source_usage",
    "SCHEMA_VERSION",
    # The tables, for read-only reports over the store (assistant.group_metrics).
    "metadata",
    "schema_version",
    "tenants",
    "api_keys",
    "questions",
    "suggestions",
    "reviews",
    "tag_corrections",
    "learned",
    "ui_sessions",
    "kb_resolutions",
]
