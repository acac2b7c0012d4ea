/**
 * The SQLite schema as ordered, append-only migrations, embedded as strings so they work from npm,
 * under Node and inside the compiled binary. Never edit a released migration: append a new one.
 * Each migration is applied inside the `begin immediate` transaction that records its version in
 * `reflow_migrations`, so a schema change and its record land together or not at all.
 */

export interface Migration {
  /** 1, 2, 3…: the schema version this migration produces. */
  readonly version: number
  readonly sql: string
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
create table reflow_migrations (
  version integer primary key,
  applied_at_ms integer not null
);

create table reflow_runs (
  id text primary key,
  workflow text not null,
  status text not null,
  input_json text,
  idempotency_key text,
  lease_id text,
  heartbeat_at_ms integer,
  created_at_ms integer not null,
  updated_at_ms integer not null,
  started_at_ms integer,
  finished_at_ms integer
);

-- claims: pending (and running, for stale leases) runs, oldest first
create index reflow_runs_status_created on reflow_runs (status, created_at_ms);

-- createRun: at most one run per (workflow, idempotency key)
create unique index reflow_runs_idempotency on reflow_runs (workflow, idempotency_key)
  where idempotency_key is not null;

-- purging finished runs by age
create index reflow_runs_finished on reflow_runs (finished_at_ms) where finished_at_ms is not null;

create table reflow_steps (
  run_id text not null references reflow_runs (id) on delete cascade,
  name text not null,
  seq integer not null,
  status text not null,
  output_json text,
  error text,
  attempts integer not null,
  created_at_ms integer not null,
  updated_at_ms integer not null,
  primary key (run_id, name)
);
`,
  },
  {
    // Durable execution state: due times (backoffs now, sleeps and delayed starts later), lease
    // expiry, the current step's attempt counters, and the history of failed attempts.
    version: 2,
    sql: `
-- pending: when the run may be claimed (due time); running: when its lease expires
alter table reflow_runs add column available_at_ms integer;
alter table reflow_runs add column lease_owner text;
alter table reflow_runs add column current_step text;
alter table reflow_runs add column attempt integer not null default 0;
alter table reflow_runs add column interruptions integer not null default 0;

update reflow_runs set available_at_ms = created_at_ms where status = 'pending';
update reflow_runs set available_at_ms = heartbeat_at_ms + 30000 where status = 'running';

-- claims: due pending runs and expired leases, earliest due first, the workflow read from the index
drop index reflow_runs_status_created;
create index reflow_runs_claim on reflow_runs (status, available_at_ms);

-- listings of one workflow, newest first (no status in it: a transition never has to update it)
create index reflow_runs_workflow on reflow_runs (workflow, created_at_ms);

create table reflow_attempts (
  id integer primary key,
  run_id text not null references reflow_runs (id) on delete cascade,
  step_name text not null,
  attempt integer not null,
  status text not null,
  started_at_ms integer,
  ended_at_ms integer not null,
  error_name text not null,
  error_message text not null,
  error_stack text
);

-- a run's attempts in order
create index reflow_attempts_run on reflow_attempts (run_id, id);
`,
  },
  {
    // Durable time and events: waiting runs (sleeps, waits for an event) and the events themselves.
    version: 3,
    sql: `
-- waiting runs: what for ({"kind":"sleep",...} or {"kind":"event",...}), and the event waited for
alter table reflow_runs add column wait_json text;
alter table reflow_runs add column wait_event text;
alter table reflow_runs add column wait_key text;

-- emit: the runs waiting for an event name and key
create index reflow_runs_waiting on reflow_runs (wait_event, wait_key) where status = 'waiting';

-- the event a wait step received, so no later step of the run receives it again
alter table reflow_steps add column event_id integer;

create table reflow_events (
  id integer primary key,
  name text not null,
  key text not null,
  payload_json text,
  idempotency_key text,
  created_at_ms integer not null
);

-- a wait step's lookup: the earliest event of a name and key since a time
create index reflow_events_lookup on reflow_events (name, key, created_at_ms, id);

-- emit with an idempotency key: at most one event per (name, key)
create unique index reflow_events_idempotency on reflow_events (name, idempotency_key) where idempotency_key is not null;
`,
  },
  {
    // Retention: a named lease so one engine at a time expires old runs, and events found by age.
    version: 4,
    sql: `
-- leases on background duties shared by every engine on the file (retention), taken by a fenced upsert
create table reflow_leases (
  name text primary key,
  holder text not null,
  expires_at_ms integer not null
);

-- retention: events oldest first
create index reflow_events_created on reflow_events (created_at_ms);
`,
  },
  {
    // Persisted schedules (numbered 5: 4 is reserved for retention, developed in parallel). One row
    // per schedule with its high-water mark; each run a slot made names its schedule and slot.
    version: 5,
    sql: `
create table reflow_schedules (
  id text primary key,
  workflow text not null,
  spec_json text not null,
  input_json text,
  declared integer not null,
  last_slot_ms integer,
  next_slot_ms integer not null,
  paused integer not null default 0,
  last_run_id text,
  skipped_count integer not null default 0,
  last_skipped_slot_ms integer,
  created_at_ms integer not null,
  updated_at_ms integer not null
);

alter table reflow_runs add column schedule_id text;
alter table reflow_runs add column schedule_slot_ms integer;
`,
  },
  {
    // Run lists newest first, paged by (created_at_ms, id): without it the first page of an
    // unfiltered list is a full scan and a sort.
    version: 6,
    sql: `
create index reflow_runs_created on reflow_runs (created_at_ms, id);
`,
  },
]

/** The newest schema version this code knows. */
export const LATEST_SCHEMA_VERSION: number = MIGRATIONS.reduce((max, m) => Math.max(max, m.version), 0)
