// The sign-off's reads and writes: the busiest write of the API, one statement each way (see signature.service.ts).
import { type Column, getTableColumns, type Table } from 'drizzle-orm'
import { toSnakeCase } from 'drizzle-orm/casing'
import type { EventRow } from '../audit/event.sql.ts'
import { Batcher, groupedWriter } from '../db/batch.ts'
import type { DbOrTx } from '../db/client.ts'
import { execute, onPglite } from '../db/driver.ts'
import { eventsAppended } from '../db/wakeups.ts'
import { type PartnershipRow, partnerships } from '../partnerships/partnership.sql.ts'
import {
  type AgreementRow,
  agreements,
  agreementVersions,
  type SignatureRow,
  type VersionRow
} from './agreement.sql.ts'

export interface ForSigning {
  partnership: PartnershipRow
  agreement: AgreementRow
  version: VersionRow
  /** The caller's role in the partnership (a current member: the row exists only then). */
  role: string
  /** Signers whose signature on this version is live. */
  liveSigners: string[]
  /** The agreement's active version, if it is still active: the one an activation supersedes. */
  previousActiveId: string | null
  /** The head of the partnership's log: the version every other state of the partnership is checked against. */
  last: { seq: number; hash: string } | null
}

/** Which version a partner signs: the partnership, agreement and version number, and the signer. */
type SignatureTarget = { partnershipId: string; agreementId: string; number: number; userId: string }

// Each key drives its own index probes (the lateral subquery is not flattened, so the planner cannot trade them
// for a scan of partnerships); `i` ties each row back to its key. Locked, it also takes the agreement and version
// rows, for a caller that holds the partnership lock.
const signingRead = (
  lock: boolean
) => `select k.i, r.* from jsonb_to_recordset($1::jsonb) as k(i integer, pid uuid, aid uuid, n integer, uid uuid)
  cross join lateral (
    select row_to_json(p) as p, row_to_json(a) as a, row_to_json(v) as v, m.role,
      (select json_agg(s.signer_id) from signatures s where s.version_id = v.id and s.revoked_at is null) as live_signers,
      (select pv.id from agreement_versions pv where pv.agreement_id = a.id and pv.number = a.active_version and pv.status = 'active') as previous_active_id,
      (select e.seq || ':' || e.hash from events e where e.partnership_id = a.partnership_id order by e.seq desc limit 1) as last_head
    from agreements a
    join partnerships p on p.id = a.partnership_id
    join agreement_versions v on v.agreement_id = a.id and v.number = k.n
    join memberships m on m.partnership_id = a.partnership_id and m.user_id = k.uid and m.left_at is null
    where a.id = k.aid and a.partnership_id = k.pid
    limit 1${lock ? ' for update of a, v' : ''}) r`
const READ_FOR_SIGNING = signingRead(false)
const LOCK_FOR_SIGNING = signingRead(true)

/** Runs a signing read for `keys`: each key's answer, in order (undefined where nothing matched). */
async function readSigning(db: DbOrTx, text: string, keys: SignatureTarget[]): Promise<Array<ForSigning | undefined>> {
  const rows = await execute(db, text, [
    JSON.stringify(keys.map((k, i) => ({ i, pid: k.partnershipId, aid: k.agreementId, n: k.number, uid: k.userId })))
  ])
  const found: Array<ForSigning | undefined> = keys.map(() => undefined)
  for (const r of rows) {
    const liveSigners = (typeof r.live_signers === 'string' ? JSON.parse(r.live_signers) : r.live_signers) as
      | string[]
      | null
    const lastHead = r.last_head as string | null
    found[Number(r.i)] = {
      partnership: fromJson(partnerships, r.p),
      agreement: fromJson(agreements, r.a),
      version: fromJson(agreementVersions, r.v),
      role: r.role as string,
      liveSigners: liveSigners ?? [],
      previousActiveId: r.previous_active_id as string | null,
      last:
        lastHead === null
          ? null
          : { seq: Number(lastHead.slice(0, lastHead.indexOf(':'))), hash: lastHead.slice(lastHead.indexOf(':') + 1) }
    }
  }
  return found
}

const jsonColumns = new Map<Table, Array<[key: string, name: string, column: Column]>>()

/** A row of `table` from its row_to_json (snake_case keys), decoded as drizzle decodes the row itself. */
function fromJson<T extends Table>(table: T, json: unknown): T['$inferSelect'] {
  let columns = jsonColumns.get(table)
  if (columns === undefined) {
    // The column names drizzle itself gives these keys under `casing: 'snake_case'`.
    columns = Object.entries(getTableColumns(table)).map(([key, column]) => [key, toSnakeCase(key), column])
    jsonColumns.set(table, columns)
  }
  const record = (typeof json === 'string' ? JSON.parse(json) : json) as Record<string, unknown>
  const row: Record<string, unknown> = {}
  for (const [key, name, column] of columns) {
    const value = record[name]
    row[key] = value === null || value === undefined ? null : column.mapFromDriverValue(value)
  }
  return row as T['$inferSelect']
}

const readers = new WeakMap<object, Batcher<SignatureTarget, ForSigning | undefined>>()

/**
 * Everything a signature needs, read without locks from one snapshot: for the
 * optimistic sign-off, whose write fails if anything in the partnership changed
 * since (see writeSignatures). Undefined when the agreement or version does not
 * exist there or the caller is not a current member. Reads that arrive while
 * others are running are then made together, in one statement.
 */
export function readForSigning(db: DbOrTx, input: SignatureTarget): Promise<ForSigning | undefined> {
  let reader = readers.get(db)
  if (reader === undefined) {
    reader = new Batcher({
      gather: onPglite(db),
      run: async (keys) =>
        (await readSigning(db, READ_FOR_SIGNING, keys)).map((value) => ({ status: 'fulfilled', value }))
    })
    readers.set(db, reader)
  }
  return reader.submit(input)
}

/**
 * The same read under the agreement and version row locks, for a caller that
 * already holds the partnership lock (so what it reads cannot change before
 * its transaction ends: every writer of a partnership takes that lock first).
 */
export async function lockVersionForSigning(db: DbOrTx, input: SignatureTarget): Promise<ForSigning | undefined> {
  const [found] = await readSigning(db, LOCK_FOR_SIGNING, [input])
  return found
}

// One statement, so one implicit transaction when run outside one, for one signature or a batch of them (in
// distinct partnerships). It takes the partnership locks first, all of them, in id order, as every writer does:
// every other part waits on `locked`, which counts them. The events it inserts continue each log from the head
// the caller read, so if anything in one of those partnerships changed since (every change appends an event),
// the (partnership_id, seq) key refuses the insert and nothing at all is written. The input is one JSON document
// (see signDocument); the statement answers how many signatures it wrote.
const SIGN = `with lock as (
    select id from partnerships where id = any(array(select jsonb_array_elements_text($1::jsonb->'partnerships')::uuid)) order by id for update),
  locked as (select count(*) = jsonb_array_length($1::jsonb->'partnerships') as ok from lock),
  sig as (insert into signatures (id, version_id, signer_id, content_hash, signed_at, receipt)
    select s.id, s.version_id, s.signer_id, s.content_hash, s.signed_at, s.receipt
    from jsonb_to_recordset($1::jsonb->'signatures') as s(id uuid, version_id uuid, signer_id uuid, content_hash text, signed_at timestamptz, receipt text)
    where (select ok from locked) returning 1),
  ev as (insert into events (partnership_id, seq, type, actor_id, subject_type, subject_id, data, at, prev_hash, hash)
    select e.partnership_id, e.seq, e.type, e.actor_id, e.subject_type, e.subject_id, e.data, e.at, e.prev_hash, e.hash
    from jsonb_to_recordset($1::jsonb->'events') as e(partnership_id uuid, seq integer, type text, actor_id uuid, subject_type text, subject_id text, data jsonb, at timestamptz, prev_hash text, hash text)
    where (select ok from locked)),
  -- A signature changes the agreement's representation (its proposal's signatures), so its ETag version moves too.
  bump as (update agreements a set revision = a.revision + 1
    where a.id = any(array(select jsonb_array_elements_text($1::jsonb->'signedOnly')::uuid)) and (select ok from locked)),
  -- The supersede runs before the activation (the activation reads its result), so the one-active-version index never sees two.
  sup as (update agreement_versions v set status = 'superseded', closed_at = x.at
    from jsonb_to_recordset($1::jsonb->'superseded') as x(id uuid, at timestamptz)
    where v.id = x.id and v.status = 'active' and (select ok from locked) returning v.id),
  act as (update agreement_versions v set status = 'active', activated_at = x.at
    from jsonb_to_recordset($1::jsonb->'activated') as x(id uuid, at timestamptz)
    where v.id = x.id and (select count(*) from sup) >= 0 and (select ok from locked) returning v.id),
  agr as (update agreements a set lifecycle = x.lifecycle, active_version = x.active_version, open_proposal = null, title = x.title, category = x.category,
      next_review_at = x.next_review_at, revision_requested = false, revision = x.revision, updated_at = x.updated_at
    from jsonb_to_recordset($1::jsonb->'activations') as x(id uuid, lifecycle text, active_version integer, title text, category text, next_review_at timestamptz, revision integer, updated_at timestamptz)
    where a.id = x.id and (select count(*) from act) = jsonb_array_length($1::jsonb->'activated'))
  select (select count(*) from sig)::integer as signed`

/** A signature's writes: the signature, its events and, when it is the last one, the activation. */
export interface SignatureWrite {
  partnershipId: string
  agreementId: string
  signature: SignatureRow
  events: EventRow[]
  activation?: { previousActiveId: string | null; agreement: AgreementRow }
}

/** The JSON document SIGN reads, for any number of signatures in distinct partnerships. */
function signDocument(writes: SignatureWrite[]): string {
  const doc = {
    partnerships: [] as string[],
    signatures: [] as unknown[],
    events: [] as unknown[],
    signedOnly: [] as string[],
    superseded: [] as unknown[],
    activated: [] as unknown[],
    activations: [] as unknown[]
  }
  for (const { partnershipId, agreementId, signature: s, events, activation } of writes) {
    const at = s.signedAt.toISOString()
    doc.partnerships.push(partnershipId)
    doc.signatures.push({
      id: s.id,
      version_id: s.versionId,
      signer_id: s.signerId,
      content_hash: s.contentHash,
      signed_at: at,
      receipt: s.receipt
    })
    for (const e of events)
      doc.events.push({
        partnership_id: partnershipId,
        seq: e.seq,
        type: e.type,
        actor_id: e.actorId,
        subject_type: e.subjectType,
        subject_id: e.subjectId,
        data: e.data,
        at: e.at.toISOString(),
        prev_hash: e.prevHash,
        hash: e.hash
      })
    if (!activation) {
      doc.signedOnly.push(agreementId)
      continue
    }
    const a = activation.agreement
    if (activation.previousActiveId !== null) doc.superseded.push({ id: activation.previousActiveId, at })
    doc.activated.push({ id: s.versionId, at })
    doc.activations.push({
      id: a.id,
      lifecycle: a.lifecycle,
      active_version: a.activeVersion,
      title: a.title,
      category: a.category,
      next_review_at: a.nextReviewAt?.toISOString() ?? null,
      revision: a.revision,
      updated_at: at
    })
  }
  return JSON.stringify(doc)
}

/**
 * Writes signatures (each with its events and, for a last signature, the
 * activation: previous version superseded, this one active, the agreement
 * updated) as one statement, all or nothing. Each write's `events` must
 * continue its partnership's log from the head read with the rest of its
 * input, and no two writes may be in the same partnership; if a log moved on,
 * this throws a unique violation (23505) and writes nothing.
 */
export async function writeSignatures(db: DbOrTx, writes: SignatureWrite[]): Promise<void> {
  const [row] = await execute(db, SIGN, [signDocument(writes)])
  // Cannot happen while partnerships are never deleted; if it did, nothing was written and the caller must not say otherwise.
  if (Number(row?.signed) !== writes.length)
    throw new Error(`signature write: ${String(row?.signed)} of ${writes.length} written`)
  for (const w of writes) eventsAppended(db, w.partnershipId)
}

/** One signature's writes as one statement (see writeSignatures). */
export const writeSignature = (db: DbOrTx, write: SignatureWrite): Promise<void> => writeSignatures(db, [write])

/**
 * Writes a signature through the pool's group commit: signatures that arrive
 * while earlier ones are being written are then written together, one
 * statement and one commit for the lot. A batch holds at most one signature per
 * partnership (their logs would collide). If a batch fails (one partnership's
 * log moved on, say), nothing of it was written and each of its signatures is
 * written on its own, succeeding or failing exactly as it would have alone.
 */
export const writeSignatureGrouped = groupedWriter<SignatureWrite>({
  writeAll: writeSignatures,
  key: (w) => w.partnershipId
})
