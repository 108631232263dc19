/**
 * Internal to `SQLiteStore` (stores/sqlite.ts), not a public API: the database's schema. Its migrations, the
 * pragmas, the check that a database is kairos' own and of a version this release knows, and the prepared
 * statements (with the row types they return).
 */
import type BetterSqlite3 from 'better-sqlite3';
import { KairosError, SerializationError } from '../src/errors.js';
import { describeValue } from '../src/validate.js';

export type Database = BetterSqlite3.Database;

/** `PRAGMA application_id` of a kairos database ('kair'). */
export const SQLITE_APPLICATION_ID = 0x6b616972;
/**
 * The schema version (`PRAGMA user_version`) this release creates; older ones are migrated at `start()`. Version 2
 * added the run history (`kairos_runs`), the run-now requests (`kairos_run_requests`) and the revision the
 * watches read (`kairos_revision`, kept by triggers); version 3 the tag concurrency limits (`kairos_tag_limits`), the
 * tags of run slots (`kairos_run_slot_tags`) and an index of the tasks with an after-trigger.
 */
export const SQLITE_SCHEMA_VERSION = 3;

/** The rows of tasks that may have an after-trigger (the serialised spec names its type); the partial index's predicate. */
const AFTER_TRIGGER_ROWS = `data LIKE '%"type":"after"%'`;

/** A trigger body that counts one more change other processes' watches must hear of. */
const COUNT_REVISION = 'BEGIN UPDATE kairos_revision SET revision = revision + 1; END';

/**
 * `MIGRATIONS[n]` upgrades schema version n to n + 1 (0 is an empty database). A later release appends one
 * entry and bumps `SQLITE_SCHEMA_VERSION`; `start()` runs the missing ones in one transaction.
 */
const MIGRATIONS: ReadonlyArray<string> = [
  `CREATE TABLE kairos_tasks (
     id TEXT PRIMARY KEY NOT NULL,
     next_run_time INTEGER,
     data TEXT NOT NULL,
     lease_owner TEXT,
     lease_expires_at INTEGER,
     lease_run_time INTEGER,
     lease_held INTEGER NOT NULL DEFAULT 0
   );
   CREATE INDEX kairos_tasks_due ON kairos_tasks (next_run_time, id)
     WHERE lease_owner IS NULL AND next_run_time IS NOT NULL;
   CREATE INDEX kairos_tasks_leased ON kairos_tasks (lease_expires_at) WHERE lease_owner IS NOT NULL;
   CREATE TABLE kairos_run_slots (
     run_id TEXT PRIMARY KEY NOT NULL,
     task_id TEXT NOT NULL,
     owner TEXT NOT NULL,
     expires_at INTEGER NOT NULL
   );
   CREATE INDEX kairos_run_slots_task ON kairos_run_slots (task_id, expires_at);`,
  // Version 2. Run records: `seq` is the order they were appended in (AUTOINCREMENT: never reused), `data` the
  // whole record as JSON. The revision counts the changes to tasks (and their leases) and the requests made, by
  // triggers, so that a watch tells them from run history and run-slot writes, and so that a process of an older
  // release, which knows nothing of it, still counts its task changes.
  `CREATE TABLE kairos_runs (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     run_id TEXT NOT NULL UNIQUE,
     task_id TEXT NOT NULL,
     ended_at INTEGER NOT NULL,
     outcome TEXT NOT NULL,
     data TEXT NOT NULL
   );
   CREATE INDEX kairos_runs_task ON kairos_runs (task_id, seq);
   CREATE INDEX kairos_runs_ended ON kairos_runs (ended_at, seq);
   CREATE TABLE kairos_run_requests (
     request_id TEXT PRIMARY KEY NOT NULL,
     requested_at INTEGER NOT NULL,
     data TEXT NOT NULL
   );
   CREATE TABLE kairos_revision (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     revision INTEGER NOT NULL
   );
   INSERT INTO kairos_revision (id, revision) VALUES (1, 0);
   CREATE TRIGGER kairos_tasks_inserted AFTER INSERT ON kairos_tasks ${COUNT_REVISION};
   CREATE TRIGGER kairos_tasks_updated AFTER UPDATE ON kairos_tasks ${COUNT_REVISION};
   CREATE TRIGGER kairos_tasks_deleted AFTER DELETE ON kairos_tasks ${COUNT_REVISION};
   CREATE TRIGGER kairos_run_requests_inserted AFTER INSERT ON kairos_run_requests ${COUNT_REVISION};`,
  // Version 3. A live run slot has a row per tag of its task here (also of tags without a limit, so that a limit
  // set later counts the runs in progress). Setting a limit, and freeing a slot of a tag that has one, are changes
  // the watches hear of: a run waiting for the tag tries again. Releases by a process of release 2, which knows
  // nothing of tags, leave tag rows behind only for slots it never tagged: none. The after-trigger index is
  // partial on a LIKE, which cannot fail on a row whose data is not JSON.
  `CREATE TABLE kairos_tag_limits (
     tag TEXT PRIMARY KEY NOT NULL,
     max_running INTEGER NOT NULL
   );
   CREATE TABLE kairos_run_slot_tags (
     run_id TEXT NOT NULL,
     tag TEXT NOT NULL,
     expires_at INTEGER NOT NULL,
     PRIMARY KEY (run_id, tag)
   ) WITHOUT ROWID;
   CREATE INDEX kairos_run_slot_tags_tag ON kairos_run_slot_tags (tag, expires_at);
   CREATE INDEX kairos_tasks_after ON kairos_tasks (id) WHERE ${AFTER_TRIGGER_ROWS};
   CREATE TRIGGER kairos_tag_limits_inserted AFTER INSERT ON kairos_tag_limits ${COUNT_REVISION};
   CREATE TRIGGER kairos_tag_limits_updated AFTER UPDATE ON kairos_tag_limits ${COUNT_REVISION};
   CREATE TRIGGER kairos_tag_limits_deleted AFTER DELETE ON kairos_tag_limits ${COUNT_REVISION};
   CREATE TRIGGER kairos_run_slot_tags_freed AFTER DELETE ON kairos_run_slot_tags
     WHEN EXISTS (SELECT 1 FROM kairos_tag_limits WHERE tag = OLD.tag) ${COUNT_REVISION};`,
];

/** A task row as the queries return it. */
export interface TaskRow {
  id: string;
  next_run_time: unknown;
  data: unknown;
}

/** A task row with its lease. */
export interface LeasedTaskRow extends TaskRow {
  lease_owner: string | null;
  lease_run_time: number | null;
  lease_held: number;
}

/** A row with the instant at which it could next be acquired. */
export interface WakeupRow extends TaskRow {
  at: number;
}

/** The prepared statements, made once per `start()`. */
export interface Statements {
  insert: BetterSqlite3.Statement<[string, number | null, string]>;
  update: BetterSqlite3.Statement<[number | null, string, string]>;
  selectOne: BetterSqlite3.Statement<[string], TaskRow>;
  selectLeased: BetterSqlite3.Statement<[string], LeasedTaskRow>;
  selectAll: BetterSqlite3.Statement<[], TaskRow>;
  deleteOne: BetterSqlite3.Statement<[string]>;
  deleteMany: BetterSqlite3.Statement<[string]>;
  earliestUnleased: BetterSqlite3.Statement<[number], WakeupRow>;
  earliestLeased: BetterSqlite3.Statement<[number], WakeupRow>;
  selectDue: BetterSqlite3.Statement<{ now: number; limit: number }, TaskRow>;
  lease: BetterSqlite3.Statement<[string, number, string]>;
  hold: BetterSqlite3.Statement<[number, string, string]>;
  releaseTo: BetterSqlite3.Statement<[number | null, string, string]>;
  releaseRemove: BetterSqlite3.Statement<[string, string]>;
  endLease: BetterSqlite3.Statement<[string, string]>;
  endLeasesOf: BetterSqlite3.Statement<[string]>;
  pruneSlots: BetterSqlite3.Statement<[number]>;
  countSlots: BetterSqlite3.Statement<[string, number], number>;
  insertSlot: BetterSqlite3.Statement<[string, string, string, number]>;
  renewSlot: BetterSqlite3.Statement<[number, string, string]>;
  deleteSlot: BetterSqlite3.Statement<[string]>;
  revision: BetterSqlite3.Statement<[], number>;
  pruneSlotTags: BetterSqlite3.Statement<[number]>;
  tagLimit: BetterSqlite3.Statement<[string], number>;
  countTagSlots: BetterSqlite3.Statement<[string, number], number>;
  insertSlotTag: BetterSqlite3.Statement<[string, string, number]>;
  renewSlotTags: BetterSqlite3.Statement<[number, string]>;
  deleteSlotTags: BetterSqlite3.Statement<[string]>;
  selectLimits: BetterSqlite3.Statement<[], { tag: string; max_running: number }>;
  setLimit: BetterSqlite3.Statement<[string, number]>;
  deleteLimit: BetterSqlite3.Statement<[string]>;
  selectAfter: BetterSqlite3.Statement<[], { id: string; data: unknown }>;
}

/** WAL journal and durability settings; the busy timeout is set by the constructor option. */
export function configure(db: Database, path: string): void {
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (mode !== 'wal')
    throw new KairosError(
      `SQLiteStore: '${path}' cannot use WAL journaling (journal_mode is ${describeValue(mode)})`,
    );
  db.pragma('synchronous = NORMAL');
}

/**
 * Refuses a database that is neither empty nor a kairos one of a schema version this release knows. Reads
 * only, so a refused file is left as it was. Returns the schema version (0 for an empty database).
 */
export function checkOwnership(db: Database, path: string): number {
  const applicationId = db.pragma('application_id', { simple: true }) as number;
  const version = db.pragma('user_version', { simple: true }) as number;
  if (applicationId === 0 && version === 0) {
    const tables = db
      .prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table'")
      .pluck()
      .get() as number;
    if (tables > 0) {
      throw new SerializationError(
        `SQLiteStore: '${path}' holds tables of another application; kairos needs a database file of its own. It is left untouched`,
      );
    }
  } else if (applicationId !== SQLITE_APPLICATION_ID) {
    throw new SerializationError(
      `SQLiteStore: '${path}' is not a kairos database (application_id ${applicationId}); it is left untouched`,
    );
  } else if (version > SQLITE_SCHEMA_VERSION) {
    throw new SerializationError(
      `SQLiteStore: '${path}' has schema version ${version}, written by a newer kairos (this one knows up to ${SQLITE_SCHEMA_VERSION}); it is left untouched`,
    );
  }
  return version;
}

/** Creates the schema of an empty database or migrates an older one, in one transaction (checked again inside it). */
export function migrate(db: Database, path: string): void {
  db.transaction(() => {
    const version = checkOwnership(db, path);
    if (version === SQLITE_SCHEMA_VERSION) return;
    for (let from = version; from < SQLITE_SCHEMA_VERSION; from++) db.exec(MIGRATIONS[from] as string);
    db.pragma(`application_id = ${SQLITE_APPLICATION_ID}`);
    db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION}`);
  }).immediate();
}

const TASK_COLUMNS = 'id, next_run_time, data';
const END_LEASE = 'lease_owner = NULL, lease_expires_at = NULL, lease_run_time = NULL, lease_held = 0';
/** A new version of a task ends a hold on it (it changed, so it is worth trying again); a lease stays. */
const END_HOLD =
  'lease_owner = iif(lease_held, NULL, lease_owner), lease_expires_at = iif(lease_held, NULL, lease_expires_at), ' +
  'lease_run_time = iif(lease_held, NULL, lease_run_time), lease_held = 0';
const IDS = 'SELECT value FROM json_each(?)';

/** Prepares every statement the store runs; the due queries name their index, so they can never scan the table. */
export function prepareStatements(db: Database): Statements {
  return {
    insert: db.prepare(
      `INSERT INTO kairos_tasks (${TASK_COLUMNS}) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`,
    ),
    update: db.prepare(`UPDATE kairos_tasks SET next_run_time = ?, data = ?, ${END_HOLD} WHERE id = ?`),
    selectOne: db.prepare<[string], TaskRow>(`SELECT ${TASK_COLUMNS} FROM kairos_tasks WHERE id = ?`),
    selectLeased: db.prepare<[string], LeasedTaskRow>(
      `SELECT ${TASK_COLUMNS}, lease_owner, lease_run_time, lease_held FROM kairos_tasks WHERE id = ?`,
    ),
    selectAll: db.prepare<[], TaskRow>(`SELECT ${TASK_COLUMNS} FROM kairos_tasks`),
    deleteOne: db.prepare('DELETE FROM kairos_tasks WHERE id = ?'),
    deleteMany: db.prepare(`DELETE FROM kairos_tasks WHERE id IN (${IDS})`),
    earliestUnleased: db.prepare<[number], WakeupRow>(
      `SELECT ${TASK_COLUMNS}, next_run_time AS at FROM kairos_tasks INDEXED BY kairos_tasks_due
       WHERE lease_owner IS NULL AND next_run_time IS NOT NULL ORDER BY next_run_time, id LIMIT ?`,
    ),
    earliestLeased: db.prepare<[number], WakeupRow>(
      `SELECT ${TASK_COLUMNS}, max(next_run_time, lease_expires_at) AS at FROM kairos_tasks INDEXED BY kairos_tasks_leased
       WHERE lease_owner IS NOT NULL AND next_run_time IS NOT NULL ORDER BY at, id LIMIT ?`,
    ),
    selectDue: db.prepare<{ now: number; limit: number }, TaskRow>(
      `SELECT ${TASK_COLUMNS} FROM (
         SELECT ${TASK_COLUMNS} FROM kairos_tasks INDEXED BY kairos_tasks_due
         WHERE lease_owner IS NULL AND next_run_time IS NOT NULL AND next_run_time <= :now
         ORDER BY next_run_time, id LIMIT :limit)
       UNION ALL
       SELECT ${TASK_COLUMNS} FROM (
         SELECT ${TASK_COLUMNS} FROM kairos_tasks INDEXED BY kairos_tasks_leased
         WHERE lease_owner IS NOT NULL AND lease_expires_at <= :now AND next_run_time IS NOT NULL AND next_run_time <= :now
         ORDER BY next_run_time, id LIMIT :limit)
       ORDER BY next_run_time, id LIMIT :limit`,
    ),
    lease: db.prepare(
      `UPDATE kairos_tasks SET lease_owner = ?, lease_expires_at = ?, lease_run_time = next_run_time, lease_held = 0
       WHERE id IN (${IDS})`,
    ),
    hold: db.prepare(
      'UPDATE kairos_tasks SET lease_expires_at = ?, lease_held = 1 WHERE id = ? AND lease_owner = ?',
    ),
    releaseTo: db.prepare(
      `UPDATE kairos_tasks SET next_run_time = CASE WHEN next_run_time IS lease_run_time THEN ? ELSE next_run_time END, ${END_LEASE}
       WHERE id = ? AND lease_owner = ?`,
    ),
    releaseRemove: db.prepare(
      'DELETE FROM kairos_tasks WHERE id = ? AND lease_owner = ? AND next_run_time IS lease_run_time',
    ),
    endLease: db.prepare(`UPDATE kairos_tasks SET ${END_LEASE} WHERE id = ? AND lease_owner = ?`),
    endLeasesOf: db.prepare(`UPDATE kairos_tasks SET ${END_LEASE} WHERE lease_owner IN (${IDS})`),
    pruneSlots: db.prepare('DELETE FROM kairos_run_slots WHERE expires_at <= ?'),
    countSlots: db
      .prepare<[string, number], number>(
        'SELECT count(*) FROM kairos_run_slots WHERE task_id = ? AND expires_at > ?',
      )
      .pluck(),
    insertSlot: db.prepare(
      'INSERT INTO kairos_run_slots (run_id, task_id, owner, expires_at) VALUES (?, ?, ?, ?)',
    ),
    renewSlot: db.prepare('UPDATE kairos_run_slots SET expires_at = ? WHERE run_id = ? AND owner = ?'),
    deleteSlot: db.prepare('DELETE FROM kairos_run_slots WHERE run_id = ?'),
    revision: db.prepare<[], number>('SELECT revision FROM kairos_revision').pluck(),
    pruneSlotTags: db.prepare('DELETE FROM kairos_run_slot_tags WHERE expires_at <= ?'),
    tagLimit: db.prepare<[string], number>('SELECT max_running FROM kairos_tag_limits WHERE tag = ?').pluck(),
    countTagSlots: db
      .prepare<[string, number], number>(
        'SELECT count(*) FROM kairos_run_slot_tags WHERE tag = ? AND expires_at > ?',
      )
      .pluck(),
    insertSlotTag: db.prepare(
      'INSERT OR REPLACE INTO kairos_run_slot_tags (run_id, tag, expires_at) VALUES (?, ?, ?)',
    ),
    renewSlotTags: db.prepare('UPDATE kairos_run_slot_tags SET expires_at = ? WHERE run_id = ?'),
    deleteSlotTags: db.prepare('DELETE FROM kairos_run_slot_tags WHERE run_id = ?'),
    selectLimits: db.prepare<[], { tag: string; max_running: number }>(
      'SELECT tag, max_running FROM kairos_tag_limits',
    ),
    setLimit: db.prepare(
      `INSERT INTO kairos_tag_limits (tag, max_running) VALUES (?, ?)
       ON CONFLICT (tag) DO UPDATE SET max_running = excluded.max_running WHERE max_running IS NOT excluded.max_running`,
    ),
    deleteLimit: db.prepare('DELETE FROM kairos_tag_limits WHERE tag = ?'),
    selectAfter: db.prepare<[], { id: string; data: unknown }>(
      `SELECT id, data FROM kairos_tasks INDEXED BY kairos_tasks_after WHERE ${AFTER_TRIGGER_ROWS}`,
    ),
  };
}
