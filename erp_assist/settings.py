"""The one configuration object; every stage receives it explicitly."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All tunables of erp-assist. Environment variables use the prefix ``ERP_ASSIST_``."""

    model_config = SettingsConfigDict(env_prefix="ERP_ASSIST_", env_file=".env", extra="ignore")

    # Where things live
    data_dir: Path = Field(Path("data/demo"), description="Knowledge-base sources: faq.csv, sops/, chats/")
    index_dir: Path = Field(Path("var/index"), description="Published index builds and the current pointer")
    cache_dir: Path = Field(Path("var/cache"), description="Reusable caches: what the last build read, chunked "
                            "and tokenized; embeddings of benchmark corpora")
    classifier_path: Path = Field(Path("var/models/classifier.joblib"), description="Trained classifier file")
    classifier_data_dir: Path = Field(
        Path(__file__).resolve().parent.parent / "models" / "data" / "train",
        description="Labelled questions (JSONL) the classifier is trained on",
    )
    taxonomy_path: Path = Field(
        Path(__file__).resolve().parent.parent / "models" / "taxonomy.yaml",
        description="ERP modules and urgency levels",
    )
    classifier_report_dir: Path = Field(Path("var/models/report"), description="`train-classifier` report output")
    offtopic_data_dir: Path = Field(
        Path(__file__).resolve().parent.parent / "models" / "data" / "offtopic",
        description="Group chatter that is not an ERP question (JSONL with a text field): the gate's negatives",
    )
    gate_path: Path = Field(Path("var/models/gate.joblib"), description="Trained off-topic gate file")
    off_topic_gate: bool = Field(True, description="Turn away messages that are not about the ERP (no drafts, P3)")
    gate_kb_word_max_frequency: int = Field(
        500, ge=0,
        description="A word of the knowledge base's FAQ questions keeps a message on topic when chatter never "
                    "uses it and jieba's dictionary counts it less often than this (0: no such words)",
    )
    gate_faq_echo: float = Field(
        0.5, ge=0.0, le=1.0,
        description="A message this close to one of the knowledge base's FAQ questions (character-bigram Dice) "
                    "is never turned away as off-topic",
    )
    gate_erp_recall_target: float = Field(
        0.998, gt=0.0, le=1.0,
        description="Share of ERP questions the gate's threshold lets through (on out-of-fold training "
                    "predictions); lower gates more chatter and more real questions",
    )
    classifier_approach: str = Field(
        "char+words-svm", description="The approach `train-classifier` trains (and a missing model is trained with)"
    )
    classifier_approaches: list[str] = Field(
        [], description="Approaches compared by `train-classifier --compare` ([] = all)"
    )
    classifier_cv_folds: int = Field(5, ge=2, le=20, description="Cross-validation folds of `train-classifier`")
    # The same default as models.classifier.P1_RECALL_TARGET (a test keeps them equal): 0.99 on the training
    # data's own folds held 0.99 with each writer's file held out; lower buys P1 precision, risks outages.
    p1_recall_target: float = Field(
        0.99, gt=0.0, le=1.0,
        description="P1 recall the classifier's P1 threshold is tuned for "
                    "(on out-of-fold training predictions)",
    )
    database_url: str = Field(
        "sqlite:///var/erp-assist.db",
        description="SQLAlchemy URL of the review store: a SQLite file, or postgresql+psycopg://user:pw@host/db "
                    "for several API processes or machines sharing one store",
    )
    store_busy_timeout_seconds: float = Field(
        5.0, gt=0, le=60,
        description="How long a request waits for a store lock or connection before answering 503 + Retry-After",
    )
    shared_data_dir: Path = Field(
        Path(__file__).resolve().parent.parent.parent / "shared" / "data",
        description="Optional public benchmark data (AFQMC, Odoo docs) used by `erp-assist eval` when present",
    )
    user_dict: Path | None = Field(None, description="Extra jieba user dictionary, one word per line")

    # Tenants: one knowledge base (sources, index, review queue, learned FAQ, stats) per company or group
    tenant: str = Field("default", description="The tenant this configuration serves; data_dir/index_dir are its KB")
    tenants_dir: Path = Field(Path("var/tenants"), description="Sources and index of every tenant but `default`")

    # Vector store
    vector_store: Literal["faiss", "milvus"] = Field(
        "faiss", description="Search backend: FAISS + bm25s files on local disk, or Milvus (Lite file or cluster)"
    )
    milvus_uri: str = Field(
        "var/milvus.db", description="Milvus Lite file (a path ending in .db) or a Milvus server/cluster URI"
    )
    milvus_token: str | None = Field(None, description="Milvus token (\"user:password\" or an API key)")
    milvus_db_name: str = Field("", description="Milvus database ('' = the server's default)")
    milvus_collection_prefix: str = Field("erp_assist", description="Collection and alias names start with this")

    # Building
    keep_builds: int = Field(3, ge=1, description="Published builds kept for rollback")
    max_chunk_drop: float = Field(0.3, ge=0.0, le=1.0, description="A build losing a larger share of chunks is not published")
    chat_thread_window_minutes: int = Field(120, ge=1, description="How long a chat question stays open")
    chat_experts: list[str] = Field([], description="Chat senders (names, base names or user ids) who are experts")
    chat_sender_names: dict[str, str] = Field({}, description="WeCom/Feishu user id → display name")
    chat_utc_offset_hours: float = Field(8, description="Time zone of plain-text chat exports")
    faq_columns: dict[str, str] = Field({}, description="FAQ column names, e.g. {\"question\": \"问题\"}")
    title_weight: int = Field(1, ge=1, description="Times a FAQ question / heading counts in BM25 vs. the body")
    bm25_word_weight: int = Field(1, ge=0, description="Times each jieba word counts in the BM25 token stream")
    bm25_unigram_weight: int = Field(2, ge=0, description="Times each CJK character counts")
    bm25_bigram_weight: int = Field(1, ge=0, description="Times each CJK character bigram counts")
    gate_max_drop: float = Field(0.02, ge=0.0, description="`index --gate`: largest allowed metric drop")
    gate_dataset: Path | None = Field(
        None, description="`index --gate`: golden-format JSONL to evaluate new builds on (default: the bundled golden "
        "set for the default tenant, <tenants_dir>/<tenant>/golden.jsonl for the others)",
    )
    hnsw_threshold: int = Field(200_000, ge=1, description="Chunk count above which FAISS uses HNSW")

    # Embedding
    embedder: str = Field(
        "all-MiniLM-L6-v2",
        description="sentence-transformers model name or local path (the packaged MiniLM works offline)",
    )
    dense_vectors: Literal["auto", "always", "never"] = Field(
        "auto",
        description="Compute chunk vectors: auto = only when the build can serve them (a positive dense_weight, a "
        "validation_set that may choose one, or Milvus); always; never (BM25 only, no embedder loaded)",
    )
    device: str = Field("cpu", description="torch device for the embedder")
    embed_batch_size: int = Field(32, ge=1)

    # Chunking
    chunk_size: int = Field(400, ge=50, description="Target SOP chunk size in characters")
    chunk_overlap: int = Field(40, ge=0)

    # Retrieval
    top_k: int = Field(5, ge=1, le=50)
    candidate_k: int = Field(50, ge=1, description="Candidates each retriever passes to fusion")
    fusion: Literal["rrf", "weighted"] = "weighted"
    rrf_k: int = Field(60, ge=1)
    bm25_weight: float = Field(1.0, ge=0.0)
    dense_weight: float | None = Field(
        None, ge=0.0, description="Dense share in fusion; unset = the weight the build chose on validation_set, else 0"
    )
    validation_set: Path | None = Field(
        None, description="Golden-format JSONL used at build time to choose the dense weight (maximizes MRR@10)"
    )
    dense_min_gain: float = Field(0.005, ge=0.0, description="MRR@10 gain dense must bring to get any weight")
    dense_weight_grid: list[float] = Field([0.0, 0.1, 0.2, 0.3, 0.5], description="Dense weights tried at build time")
    module_boost: float = Field(0.05, ge=0.0, description="Score bonus for chunks of the predicted module")
    abstain_threshold: float | None = Field(
        None, ge=0.0,
        description="Best fused score below this means no answer; unset = the bar the build chose on "
                    "validation_set (when it has unanswerable questions), else "
                    "indexer.retrieval.FALLBACK_ABSTAIN_THRESHOLD",
    )
    abstain_min_answered: float = Field(
        0.95, gt=0.0, le=1.0,
        description="A build's abstention bar still answers this share of the answerable "
                    "validation questions",
    )
    abstain_model: Literal["bar", "learned", "auto"] = Field(
        "auto",
        description="What decides abstention: `bar` (best fused score below the bar), `learned` (the "
                    "build's logistic model over retrieval signals, trained on the validation set and "
                    "reviews; the bar when the build has none), `auto` (the learned model only when the "
                    "build's cross-validation found it better than the bar, and abstain_threshold is unset)",
    )

    # Questions
    max_question_chars: int = Field(4000, ge=1)
    module_confidence_threshold: float = Field(0.35, ge=0.0, le=1.0)
    module_evidence_weight: float = Field(
        0.5, ge=0.0, le=1.0, description="Share of the module decision taken from the modules of the best sources"
    )
    module_evidence_k: int = Field(5, ge=1, description="Best sources whose modules vote")

    # API
    rate_limit_per_minute: int = Field(120, ge=1, description="Requests per API key per minute")
    max_body_bytes: int = Field(64_000, ge=1024, description="Largest accepted request body")
    max_in_flight: int = Field(
        16, ge=1, description="API requests one worker serves at once; more are answered 503 + Retry-After "
        "at once instead of queueing behind the others",
    )
    metrics_token: str | None = Field(
        None, description="Bearer token Prometheus must send to /metrics (set it when several tenants share the "
        "service: the group gauges name every tenant's experts)",
    )
    ui_session_hours: float = Field(
        12, gt=0, description="How long a review-page (/ui) login lasts, in the store and in the cookie's Max-Age"
    )
    ui_cookie_secure: bool | None = Field(
        None, description="Secure flag of the /ui cookies; unset = when the request came over https (behind a TLS "
        "proxy, uvicorn takes the scheme from X-Forwarded-Proto of --forwarded-allow-ips, by default 127.0.0.1)",
    )
    metrics_public: bool = Field(
        False, description="Without metrics_token, /metrics answers only clients on this machine (loopback); true "
        "opens it to every client",
    )
    api_host: str = Field("127.0.0.1", description="Bind address of `erp-assist serve`")
    api_port: int = Field(8000, ge=1, le=65535)
    api_worker_healthcheck_seconds: int = Field(
        30, ge=1, description="`serve --workers N`: seconds a worker may take to answer the supervisor's health "
        "check before it is killed and restarted (uvicorn's default, 5, killed busy workers switching builds on a "
        "loaded 2-core machine: their open requests were reset)",
    )

    # Chat channels
    channel_chat_dir: Path | None = Field(
        None, description="Chat JSONL the bot appends group messages to (default: channel_tenant's <data_dir>/chats)"
    )
    channel_bot_name: str = Field("ERP助手", description="The bot's display name in the groups (how askers @ it)")
    channel_tenant: str = Field("default", description="The tenant whose knowledge base answers the chat groups and "
                                "whose review queue their questions join")
    channel_group_names: dict[str, str] = Field(
        {}, description="Platform chat id → group name for the store and chat history, e.g. {\"oc_5ad…\": \"erp-fin\"}"
    )
    channel_expert_on_duty: dict[str, str] = Field(
        {}, description="Platform → user id of the expert on duty, @-mentioned on P1 questions: {\"feishu\": \"ou_…\"}"
    )
    channel_reply_drafts: int = Field(3, ge=1, le=10, description="Drafts shown in a chat reply")
    channel_public_url: str | None = Field(
        None, description="Base URL of this service as group members reach it: kb:// source links without a url "
        "become signed <base>/s/<token> links (see link_ttl_days); unset = not clickable in chat"
    )
    channel_max_clock_skew_seconds: int = Field(
        300, ge=1, description="Callbacks signed longer ago (or ahead) than this are rejected as replays"
    )
    channel_send_timeout_seconds: float = Field(5.0, gt=0, description="Timeout of one outgoing platform request")
    channel_send_attempts: int = Field(3, ge=1, le=10, description="Attempts per outgoing request (5xx, 429, network)")
    channel_send_backoff_seconds: float = Field(0.5, ge=0, description="First retry delay; doubles on each retry")
    dingtalk_app_secret: str | None = Field(None, description="DingTalk robot AppSecret: verifies outgoing callbacks")
    dingtalk_robot_token: str | None = Field(None, description="DingTalk group robot webhook access_token (digests)")
    dingtalk_robot_secret: str | None = Field(None, description="DingTalk group robot 加签 secret (SEC…)")
    dingtalk_api_base: str = Field("https://oapi.dingtalk.com", description="DingTalk API base URL")
    feishu_verification_token: str | None = Field(None, description="Feishu event subscription Verification Token")
    feishu_encrypt_key: str | None = Field(None, description="Feishu event subscription Encrypt Key")
    feishu_app_id: str | None = Field(None, description="Feishu app id (cli_…) for replies")
    feishu_app_secret: str | None = Field(None, description="Feishu app secret for replies")
    feishu_api_base: str = Field("https://open.feishu.cn", description="Feishu open API base URL")
    wecom_token: str | None = Field(None, description="WeCom callback Token")
    wecom_encoding_aes_key: str | None = Field(None, description="WeCom callback EncodingAESKey (43 characters)")
    wecom_corp_id: str | None = Field(None, description="WeCom corp id (the callback's receive id)")
    wecom_corp_secret: str | None = Field(None, description="WeCom app secret for sending")
    wecom_agent_id: int | None = Field(None, description="WeCom app agent id for sending")
    wecom_api_base: str = Field("https://qyapi.weixin.qq.com", description="WeCom API base URL")
    points_accepted: int = Field(2, ge=0, description="Expert points for an accepted draft")
    points_edited: int = Field(3, ge=0, description="Expert points for an edit that improves a draft")
    points_new_faq: int = Field(5, ge=0, description="Expert points for a review that adds a new FAQ entry")
    group_metrics_window_days: int = Field(30, ge=1, description="Days of history behind the Prometheus group gauges")

    # Live ERP lookups and alerts (assistant/erp, issue #21)
    erp_config_dir: Path = Field(
        Path("var/erp"), description="Per-tenant ERP configuration: <dir>/<tenant>.yaml (connector, read-only "
        "account, whitelist, alert checks); a tenant without a file has no live lookups",
    )
    erp_lookups_per_minute: int = Field(6, ge=1, description="ERP lookups one asker may make per minute")
    erp_party_cache_seconds: float = Field(
        600, ge=0, description="How long the supplier/customer names that questions are matched against are kept",
    )
    erp_party_retry_seconds: float = Field(
        60, ge=0, description="After the ERP failed to give those names, how long before asking it again (questions "
        "meanwhile match the names known before)",
    )
    erp_alerts_in_serve_minutes: float = Field(
        0, ge=0, description="Run `erp-assist alerts run` for every tenant inside `serve` every N minutes (0: off; "
        "use cron instead)",
    )

    # Chat channels: modes without a public URL, WeCom group robots, reply sizes (issue #16)
    channel_reply_max_bytes: dict[str, int] = Field(
        {"wecom": 2048, "dingtalk": 20000, "feishu": 30000},
        description="Platform → most bytes of one reply as that platform counts them (WeCom markdown content, "
        "DingTalk request body, Feishu card request body); longer answers get shorter excerpts, then are split",
    )
    channel_reply_draft_chars: int = Field(160, ge=20, description="Characters of each draft excerpt in a reply")
    channel_reply_min_draft_chars: int = Field(
        40, ge=10, description="Excerpts are shortened down to this many characters before a reply is split"
    )
    dingtalk_mode: Literal["http", "stream"] = Field(
        "http", description="http: DingTalk posts callbacks to /v1/channels/dingtalk (needs a public URL); stream: "
        "`erp-assist channels listen` opens DingTalk's Stream websocket (dingtalk-stream SDK), no inbound URL"
    )
    dingtalk_app_key: str | None = Field(
        None, description="DingTalk robot AppKey (Client ID, also its robotCode): Stream mode and one-to-one P1 alerts"
    )
    dingtalk_openapi_base: str = Field("https://api.dingtalk.com", description="DingTalk new open API base URL")
    feishu_mode: Literal["http", "websocket"] = Field(
        "http", description="http: Feishu posts events to /v1/channels/feishu (needs a public URL); websocket: "
        "`erp-assist channels listen` opens Feishu's long connection (lark-oapi ws.Client), no inbound URL"
    )
    wecom_robot_token: str | None = Field(None, description="WeCom group robot (群机器人) callback Token")
    wecom_robot_encoding_aes_key: str | None = Field(
        None, description="WeCom group robot callback EncodingAESKey (43 characters; receive id is empty)"
    )
    wecom_webhook_prefixes: list[str] = Field(
        ["https://qyapi.weixin.qq.com/cgi-bin/webhook/", "http://in.qyapi.weixin.qq.com/cgi-bin/webhook/"],
        description="A group robot callback's WebhookUrl is only called when it starts with one of these "
        "(or with wecom_api_base)",
    )

    # Knowledge-base hygiene (`erp-assist kb check`, the build report, /ui/kb): duplicates, contradictions, stale.
    # Similarities are TF-IDF cosines over the BM25 token stream (indexer.text), or the embedder's cosine. The
    # defaults were chosen on the dev split of eval/data/hygiene (bench/kb_hygiene.py --tune): paraphrased entries
    # reword the question far more than the answer, so the answer carries most of the weight.
    hygiene_build_max_entries: int = Field(
        20_000, ge=0, description="Builds run the hygiene check only up to this many FAQ entries and chat threads "
        "(its pairs grow with the square); above it, `erp-assist kb check` runs it on its own",
    )
    hygiene_question_similarity: float = Field(
        0.0, ge=0.0, le=1.0,
        description="Two entries can answer the same question only if their questions are at least this similar "
                    "(lexical)",
    )
    hygiene_pair_similarity: float = Field(
        0.45, ge=0.0, le=1.0,
        description="Two entries whose question and answer similarity, weighted by hygiene_question_weight, reach "
                    "this answer the same question: a duplicate or, if their answers disagree, a contradiction",
    )
    hygiene_question_weight: float = Field(
        0.2, ge=0.0, le=1.0, description="Share of the question (vs. the answer) in hygiene_pair_similarity",
    )
    hygiene_dense_similarity: float = Field(
        0.95, ge=0.0, le=1.0,
        description="Cosine of the build's embedder at which two entries answer the same question whatever their "
                    "words (MiniLM: 0.9 flagged near-misses on the dev split, 0.95 none)",
    )
    hygiene_answer_similarity: float = Field(
        0.3, ge=0.0, le=1.0,
        description="Answers at least this similar (lexical) say the same thing; below it, a same-question pair "
                    "is a duplicate only if nothing in it disagrees",
    )
    hygiene_sentence_similarity: float = Field(
        0.0, ge=0.0, le=1.0,
        description="Two answer sentences this close (character-bigram Dice) are the same step, so a changed menu, "
                    "number or 能/不能 between them is a contradiction shown side by side",
    )
    hygiene_copied_share: float = Field(
        0.3, ge=0.0, le=1.0,
        description="Two same-question answers sharing at least this share of their sentences word for word are "
                    "an edited copy: any sentence the copy changed is a contradiction (a paraphrase rewords all)",
    )
    hygiene_max_age_days: int = Field(
        730, ge=0, description="A source whose updated_at is older than this is stale (0: no age check); a tenant "
        "overrides it in <data_dir>/hygiene.yaml (max_age_days)",
    )
    hygiene_unused_days: int = Field(
        180, ge=1, description="A source never served as a draft, or never accepted, in this many days is stale "
        "(only once the store holds that much history)",
    )
    hygiene_edit_rate: float = Field(
        0.6, ge=0.0, le=1.0, description="A source whose drafts experts edit or reject at least this often is stale",
    )
    hygiene_min_reviews: int = Field(
        3, ge=1, description="Reviews a source's drafts need before its edit/reject rate counts",
    )
    hygiene_retired_terms: list[str] = Field(
        [], description="Versions or menus the tenant has retired (e.g. \"K/3 WISE 12.3\", \"【老版应收】\"); "
        "<data_dir>/hygiene.yaml (retired: [...]) adds its own",
    )
    hygiene_learned_merge: bool = Field(
        True, description="At review time, a learned answer that duplicates an existing entry becomes its "
        "alternate question instead of a new entry (the expert is asked when unsure)",
    )

    # ERP vocabulary packs (issue #19): indexer/dicts/vendors/<vendor>.yaml, plus a tenant's own <data_dir>/vocab.yaml
    erp_vendors: str = Field(
        "all", description="Vocabulary packs to use: all, none, or a comma list (kingdee,sap); a tenant's own "
                           "vocab.yaml may choose its vendors with erp_vendors: [...]",
    )
    vendor_packs_dir: Path = Field(
        Path(__file__).resolve().parent.parent / "indexer" / "dicts" / "vendors",
        description="Directory of the vendor vocabulary packs (<vendor>.yaml)",
    )
    # Both measured with bench/vocab_packs.py (README, ERP vocabulary packs): on the dev sets every concept weight
    # from 0 to 2 lies within 0.007 MRR; 0.5 keeps golden, AFQMC and Odoo within 0.005 (2 cost Odoo 0.04 recall@1).
    vocab_concept_weight: float = Field(
        0.5, ge=0.0, le=4.0,
        description="Weight of a concept token (another vendor's name for the same thing) against a word of the "
                    "question in BM25; 0 turns concept expansion off",
    )
    vocab_module_evidence_weight: float = Field(
        0.15, ge=0.0, le=1.0,
        description="Share of the module decision given to the modules of the vendor names in the question "
                    "(a T-code or document name is strong module evidence); 0: classifier only",
    )

    # Signed source links in chat replies (issue #16): group members open one source without an API key
    link_secret: SecretStr | None = Field(
        None, min_length=16, description="HMAC-SHA256 key that signs the source links sent into chat groups (at "
        "least 16 characters; the same on every worker); unset = a random key made on first use and kept in "
        "link_secret_path (mode 0600)",
    )
    link_secret_path: Path = Field(
        Path("var/link-secret"), description="Where the generated link key is kept when link_secret is unset",
    )
    link_ttl_days: float = Field(
        30, gt=0, le=3650, description="How long a source link sent into a chat group opens the source",
    )

    @property
    def builds_vectors(self) -> bool:
        """Whether an index build computes chunk vectors with the embedder (see ``dense_vectors``)."""
        if self.dense_vectors != "auto":
            return self.dense_vectors == "always"
        if self.vector_store == "milvus":
            return True
        if self.dense_weight is not None:
            return self.dense_weight > 0
        return self.validation_set is not None and any(w > 0 for w in self.dense_weight_grid)

    @field_validator("tenant", "channel_tenant")
    @classmethod
    def _tenant_id(cls, value: str) -> str:
        return validate_tenant_id(value)

    def for_tenant(self, tenant: str) -> Settings:
        """The same settings for another tenant: its own sources, index and validation set under
        ``tenants_dir``. The default tenant keeps the configured ``data_dir`` and ``index_dir``, so call this on
        the default tenant's settings."""
        if tenant == self.tenant:
            return self
        if self.tenant != DEFAULT_TENANT:
            raise ValueError(f"for_tenant({tenant!r}) called on tenant {self.tenant!r}'s settings; use the default's")
        root = self.tenants_dir / tenant
        # The default tenant's validation questions point into its own knowledge base; another tenant's dense
        # weight is chosen on <tenants_dir>/<tenant>/validation.jsonl or not at all.
        validation = root / "validation.jsonl"
        return self.model_validate({**self.model_dump(), "tenant": tenant, "data_dir": root / "data",
                                    "index_dir": root / "index", "channel_chat_dir": None,
                                    "validation_set": validation if validation.is_file() else None})


DEFAULT_TENANT = "default"
TENANT_ID = re.compile(r"[a-z][a-z0-9_]{0,31}")


def validate_tenant_id(tenant_id: str) -> str:
    """The id, or ``ValueError`` naming the rule: it names directories, Milvus collections and labels."""
    if not TENANT_ID.fullmatch(tenant_id):
        raise ValueError(f"tenant id {tenant_id!r} must match {TENANT_ID.pattern}: a lowercase letter, then "
                         "up to 31 lowercase letters, digits or underscores (e.g. acme or plant_2)")
    return tenant_id
