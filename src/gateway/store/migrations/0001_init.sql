-- switchyard gateway schema, version 1.
CREATE TABLE orgs (
    org_id      TEXT PRIMARY KEY,
    generation  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE providers (
    id                        TEXT PRIMARY KEY,
    org_id                    TEXT NOT NULL,
    name                      TEXT NOT NULL,
    model_provider            TEXT NOT NULL,
    auth_type                 TEXT NOT NULL,
    base_url                  TEXT,
    enabled                   INTEGER NOT NULL,
    settings                  TEXT NOT NULL,
    catalog_id                TEXT,
    connection_id             TEXT,
    request_timeout_secs      INTEGER,
    stream_idle_timeout_secs  INTEGER,
    api_key                   TEXT,
    created_at                TEXT NOT NULL,
    updated_at                TEXT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE routes (
    id                          TEXT PRIMARY KEY,
    org_id                      TEXT NOT NULL,
    provider_id                 TEXT NOT NULL REFERENCES providers(id),
    model_alias                 TEXT NOT NULL,
    upstream_model              TEXT NOT NULL,
    enabled                     INTEGER NOT NULL,
    priority                    INTEGER NOT NULL,
    retry_on_429_count          INTEGER NOT NULL,
    retry_on_429_max_wait_secs  INTEGER NOT NULL,
    bare_alias                  INTEGER NOT NULL,
    stream_idle_timeout_secs    INTEGER,
    max_in_flight               INTEGER,
    request_timeout_secs        INTEGER,
    created_at                  TEXT NOT NULL,
    updated_at                  TEXT NOT NULL
);
-- At most one 1:1 enablement per (provider, upstream model): the fold is race-free
-- even if two writers ever got past the serialised write path.
CREATE UNIQUE INDEX routes_one_to_one ON routes (provider_id, upstream_model) WHERE model_alias = upstream_model;
CREATE INDEX routes_by_model ON routes (provider_id, upstream_model);
CREATE INDEX routes_by_alias ON routes (org_id, model_alias COLLATE NOCASE);

CREATE TABLE smart_models (
    id                          TEXT PRIMARY KEY,
    org_id                      TEXT NOT NULL,
    model_alias                 TEXT NOT NULL,
    enabled                     INTEGER NOT NULL,
    determiner_model_alias      TEXT NOT NULL,
    slots                       TEXT NOT NULL,
    context_breakpoints         TEXT NOT NULL,
    determiner_input_max_chars  INTEGER NOT NULL,
    default_slot_on_failure     INTEGER NOT NULL,
    description                 TEXT,
    created_at                  TEXT NOT NULL,
    updated_at                  TEXT NOT NULL
);
CREATE UNIQUE INDEX smart_models_alias ON smart_models (org_id, model_alias COLLATE NOCASE);
