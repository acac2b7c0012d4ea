/**
 * The Postgres schema as ordered, append-only migrations, embedded as strings (they must work from
 * npm, under Node and inside the compiled binary). Never edit a released migration: append one.
 * Table names are bare here and qualified with the store's schema when compiled (sql.ts). Each
 * migration runs in the transaction that records its version, under an advisory lock that every
 * process starting at once waits for (connection.ts), so exactly one applies it.
 *
 * The shape follows the SQLite schema (same columns, same meaning), with what Postgres does better:
 * claims read partial indexes on `available_at_ms`, one per claimable status, so a claim of due
 * pending runs never visits waiting or running ones; `bigint` times; generated ids.
 */

export interface Migration {
  readonly version: number
  readonly sql: string
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
create table reflow_runs (
  id text primary key,
  -- creation order: runs due at the same moment are claimed first come, first served
  position bigint generated always as identity,
  workflow text not null,
  status text not null,
  input_json text,
  idempotency_key text,
  -- pending and waiting: when the run is due; running: when its lease expires
  available_at_ms bigint,
  lease_id text,
  lease_owner text,
  heartbeat_at_ms bigint,
  current_step text,
  attempt integer not null default 0,
  interruptions integer not null default 0,
  wait_json text,
  wait_event text,
  wait_key text,
  schedule_id text,
  schedule_slot_ms bigint,
  created_at_ms bigint not null,
  updated_at_ms bigint not null,
  started_at_ms bigint,
  finished_at_ms bigint
);

-- claims: due pending runs, due waiting runs and expired leases, each earliest first
create index reflow_runs_pending on reflow_runs (available_at_ms, position) where status = 'pending';
create index reflow_runs_woken on reflow_runs (available_at_ms, position) where status = 'waiting';
create index reflow_runs_leased on reflow_runs (available_at_ms, position) where status = 'running';

-- createRun: at most one run per (workflow, idempotency key)
create unique index reflow_runs_idempotency on reflow_runs (workflow, idempotency_key) where idempotency_key is not null;

-- emit: the runs waiting for an event name and key
create index reflow_runs_waiting on reflow_runs (wait_event, wait_key) where status = 'waiting';

-- purging finished runs by age; stats of recently finished runs
create index reflow_runs_finished on reflow_runs (finished_at_ms) where finished_at_ms is not null;

-- run lists newest first, of all workflows or of one
create index reflow_runs_created on reflow_runs (created_at_ms, id);
create index reflow_runs_workflow on reflow_runs (workflow, created_at_ms, id);

create table reflow_steps (
  run_id text not null references reflow_runs (id) on delete cascade,
  name text not null,
  seq integer not null,
  status text not null,
  output_json text,
  error text,
  attempts integer not null,
  created_at_ms bigint not null,
  updated_at_ms bigint not null,
  -- the event a wait step received, so no later step of the run receives it again
  event_id bigint,
  primary key (run_id, name)
);

create table reflow_attempts (
  id bigint generated always as identity primary key,
  run_id text not null references reflow_runs (id) on delete cascade,
  step_name text not null,
  attempt integer not null,
  status text not null,
  started_at_ms bigint,
  ended_at_ms bigint not null,
  error_name text not null,
  error_message text not null,
  error_stack text
);

-- a run's attempts in order
create index reflow_attempts_run on reflow_attempts (run_id, id);

create table reflow_events (
  id bigint generated always as identity primary key,
  name text not null,
  key text not null,
  payload_json text,
  idempotency_key text,
  created_at_ms bigint not null
);

-- a wait step's lookup: the earliest event of a name and key since a time
create index reflow_events_lookup on reflow_events (name, key, created_at_ms, id);
-- emit with an idempotency key: at most one event per (name, key)
create unique index reflow_events_idempotency on reflow_events (name, idempotency_key) where idempotency_key is not null;
-- retention: events oldest first
create index reflow_events_created on reflow_events (created_at_ms);

-- leases on background duties shared by every engine on the database (retention)
create table reflow_leases (
  name text primary key,
  holder text not null,
  expires_at_ms bigint not null
);

create table reflow_schedules (
  id text primary key,
  workflow text not null,
  spec_json text not null,
  input_json text,
  declared boolean not null,
  last_slot_ms bigint,
  next_slot_ms bigint not null,
  paused boolean not null default false,
  last_run_id text,
  skipped_count integer not null default 0,
  last_skipped_slot_ms bigint,
  created_at_ms bigint not null,
  updated_at_ms bigint not null
);
`,
  },
]

export const LATEST_SCHEMA_VERSION: number = MIGRATIONS.reduce((max, m) => Math.max(max, m.version), 0)
