-- fleet.sqlite schema 1 (triage before the compact store), kept to test the migration
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS hosts (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,                 -- collection host name (see fleet_host_name)
    reported_name TEXT,                        -- host name read from the host's own registry
    os TEXT,
    score REAL NOT NULL DEFAULT 0,
    score_explained TEXT                       -- JSON list of {what, weight, count, points}
);
CREATE TABLE IF NOT EXISTS bundles (
    id INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL,
    analyzer_version TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER,
    status TEXT NOT NULL,                      -- ok | failed | encrypted
    error TEXT,
    host_id INTEGER REFERENCES hosts(id),
    host_dir TEXT,                             -- relative to the fleet directory
    analyzed_utc TEXT,
    duration_s REAL,                           -- wall time of the analysis in its worker
    cpu_s REAL,                                -- CPU time of it (all threads: > duration_s when parallel)
    peak_rss_bytes INTEGER,
    worker TEXT,
    collection_started_utc TEXT,
    collection_finished_utc TEXT,
    UNIQUE (sha256, analyzer_version)
);
CREATE TABLE IF NOT EXISTS bundle_files_seen (   -- hash cache: skip re-hashing unchanged files
    path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, sha256 TEXT
);
CREATE TABLE IF NOT EXISTS autoruns (
    id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, bundle_id INTEGER NOT NULL,
    category TEXT, location TEXT, name TEXT, command TEXT, command_norm TEXT,
    stack_key TEXT,                            -- what stacking groups by: command_norm, or for services and
                                               -- tasks lower(name) || ' | ' || command_norm
    user TEXT, last_write_utc TEXT, details TEXT, bundle_path TEXT, locator TEXT
);
CREATE VIEW IF NOT EXISTS services AS
    SELECT id, host_id, bundle_id, name, command AS image_path, command_norm, location,
           json_extract(details, '$.start_type') AS start_type,
           json_extract(details, '$.service_dll') AS service_dll,
           last_write_utc, bundle_path, locator
    FROM autoruns WHERE category = 'service';
CREATE VIEW IF NOT EXISTS scheduled_tasks AS
    SELECT id, host_id, bundle_id, name, command, command_norm, location, user,
           json_extract(details, '$.author') AS author, last_write_utc, bundle_path, locator
    FROM autoruns WHERE category = 'task';
CREATE TABLE IF NOT EXISTS executions (
    id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, bundle_id INTEGER NOT NULL,
    executable TEXT, executable_lc TEXT, path TEXT, path_norm TEXT, run_count INTEGER,
    last_run_utc TEXT, last_runs TEXT, source TEXT, sha1 TEXT, bundle_path TEXT, locator TEXT
);
CREATE TABLE IF NOT EXISTS browser_domains (
    id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, bundle_id INTEGER NOT NULL,
    browser TEXT, user TEXT, domain TEXT, visits INTEGER, bundle_path TEXT
);
CREATE TABLE IF NOT EXISTS downloads (
    id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, bundle_id INTEGER NOT NULL,
    browser TEXT, user TEXT, url TEXT, domain TEXT, target_path TEXT, start_utc TEXT, end_utc TEXT,
    received_bytes INTEGER, danger_type TEXT, state TEXT, bundle_path TEXT, locator TEXT
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, bundle_id INTEGER NOT NULL,
    timestamp_utc TEXT, channel TEXT, provider TEXT, event_id INTEGER, record_id INTEGER, computer TEXT,
    category TEXT, description TEXT, fields TEXT, bundle_path TEXT, locator TEXT
);
CREATE TABLE IF NOT EXISTS yara_hits (
    id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, bundle_id INTEGER NOT NULL,
    rule TEXT, namespace TEXT, tags TEXT, target TEXT, details TEXT, bundle_path TEXT
);
CREATE TABLE IF NOT EXISTS off_network_windows (
    id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, bundle_id INTEGER NOT NULL,
    start_utc TEXT, end_utc TEXT, reason TEXT
);
CREATE TABLE IF NOT EXISTS files (               -- every collected file, from the bundle manifest
    id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, bundle_id INTEGER NOT NULL,
    path TEXT, path_norm TEXT, name_lc TEXT, bundle_path TEXT, artifact TEXT, user TEXT, size INTEGER,
    sha256 TEXT, sha1 TEXT, md5 TEXT, modified_utc TEXT
);
CREATE TABLE IF NOT EXISTS findings (
    id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, bundle_id INTEGER,
    origin TEXT NOT NULL,                      -- host (from summary.json) | rare | ioc
    rule TEXT, severity TEXT, title TEXT, reason TEXT, evidence TEXT, when_utc TEXT, off_network INTEGER
);
CREATE TABLE IF NOT EXISTS issues (
    id INTEGER PRIMARY KEY, host_id INTEGER, bundle_id INTEGER,
    severity TEXT, message TEXT, bundle_path TEXT, locator TEXT
);
CREATE TABLE IF NOT EXISTS rare_items (
    id INTEGER PRIMARY KEY, kind TEXT, item TEXT, hosts INTEGER, total_hosts INTEGER, host_names TEXT
);
CREATE TABLE IF NOT EXISTS ioc_matches (
    id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, bundle_id INTEGER,
    ioc_type TEXT, ioc_value TEXT, ioc_source TEXT, matched_table TEXT, matched_value TEXT,
    evidence TEXT
);
CREATE INDEX IF NOT EXISTS autoruns_stack ON autoruns (category, stack_key, host_id);
CREATE INDEX IF NOT EXISTS autoruns_command ON autoruns (command_norm);
CREATE INDEX IF NOT EXISTS autoruns_bundle ON autoruns (bundle_id);
CREATE INDEX IF NOT EXISTS executions_name ON executions (executable_lc, host_id);
CREATE INDEX IF NOT EXISTS executions_path ON executions (path_norm, host_id);
CREATE INDEX IF NOT EXISTS executions_bundle ON executions (bundle_id);
CREATE INDEX IF NOT EXISTS domains_stack ON browser_domains (domain, host_id);
CREATE INDEX IF NOT EXISTS domains_bundle ON browser_domains (bundle_id);
CREATE INDEX IF NOT EXISTS downloads_bundle ON downloads (bundle_id);
CREATE INDEX IF NOT EXISTS events_bundle ON events (bundle_id);
CREATE INDEX IF NOT EXISTS events_host_time ON events (host_id, timestamp_utc);
CREATE INDEX IF NOT EXISTS yara_stack ON yara_hits (rule, host_id);
CREATE INDEX IF NOT EXISTS yara_bundle ON yara_hits (bundle_id);
CREATE INDEX IF NOT EXISTS files_sha256 ON files (sha256);
CREATE INDEX IF NOT EXISTS files_sha1 ON files (sha1);
CREATE INDEX IF NOT EXISTS files_md5 ON files (md5);
CREATE INDEX IF NOT EXISTS files_name ON files (name_lc);
CREATE INDEX IF NOT EXISTS files_bundle ON files (bundle_id);
CREATE INDEX IF NOT EXISTS findings_host ON findings (host_id, origin);
CREATE INDEX IF NOT EXISTS findings_bundle ON findings (bundle_id);
CREATE INDEX IF NOT EXISTS offnet_bundle ON off_network_windows (bundle_id);
CREATE INDEX IF NOT EXISTS issues_bundle ON issues (bundle_id);
