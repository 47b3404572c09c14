import { and, asc, type Column, eq, getTableColumns, gt, inArray, isNull, or, sql, type SQL, type Table } from 'drizzle-orm'
import type { DbOrTx } from '../db/client.ts'
import { Batcher } from '../db/batch.ts'
import { execute, isoText, prepared } from '../db/prepared.ts'
import type { EventRow } from '../audit/event.sql.ts'
import { memberships, type PartnershipRow, partnerships } from '../partnerships/partnership.sql.ts'
import { type AgreementRow, agreements, agreementVersions, type SignatureRow, signatures, type VersionRow } from './agreement.sql.ts'

export async function insertAgreement (db: DbOrTx, row: typeof agreements.$inferInsert): Promise<AgreementRow> {
  const [created] = await db.insert(agreements).values(row).returning()
  return created!
}

export async function findAgreement (db: DbOrTx, partnershipId: string, id: string, lock = false): Promise<AgreementRow | undefined> {
  const q = db.select().from(agreements).where(and(eq(agreements.partnershipId, partnershipId), eq(agreements.id, id))).limit(1)
  const [row] = lock ? await q.for('update') : await q
  return row
}

/** Bumps the agreement's ETag version along with any change. */
export async function updateAgreement (db: DbOrTx, id: string, patch: Partial<Omit<AgreementRow, 'id' | 'version'>>): Promise<AgreementRow> {
  const [row] = await db.update(agreements).set({ ...patch, version: sql`${agreements.version} + 1` }).where(eq(agreements.id, id)).returning()
  return row!
}

/** `in_revision` is derived, so the status filter is expressed over the stored columns. */
export function statusFilter (status: string): SQL | undefined {
  switch (status) {
    case 'in_revision': return sql`${agreements.lifecycle} = 'active' and (${agreements.openProposal} is not null or ${agreements.revisionRequested})`
    case 'active': return sql`${agreements.lifecycle} = 'active' and ${agreements.openProposal} is null and not ${agreements.revisionRequested}`
    default: return eq(agreements.lifecycle, status)
  }
}

export async function listAgreements (db: DbOrTx, partnershipId: string, filter: { status?: string | undefined, category?: string | undefined }, afterId: string | null, limit: number): Promise<AgreementRow[]> {
  return db.select().from(agreements).where(and(
    eq(agreements.partnershipId, partnershipId),
    filter.status ? statusFilter(filter.status) : undefined,
    filter.category ? eq(agreements.category, filter.category) : undefined,
    afterId ? gt(agreements.id, afterId) : undefined
  )).orderBy(asc(agreements.id)).limit(limit)
}

export async function listAgreementsOfPartnership (db: DbOrTx, partnershipId: string): Promise<AgreementRow[]> {
  return db.select().from(agreements).where(eq(agreements.partnershipId, partnershipId))
}

export async function insertVersion (db: DbOrTx, row: typeof agreementVersions.$inferInsert): Promise<VersionRow> {
  const [created] = await db.insert(agreementVersions).values(row).returning()
  return created!
}

export async function findVersion (db: DbOrTx, agreementId: string, number: number, lock = false): Promise<VersionRow | undefined> {
  const q = db.select().from(agreementVersions).where(and(eq(agreementVersions.agreementId, agreementId), eq(agreementVersions.number, number))).limit(1)
  const [row] = lock ? await q.for('update') : await q
  return row
}

export async function listVersions (db: DbOrTx, agreementId: string, afterNumber: number, limit: number): Promise<VersionRow[]> {
  return db.select().from(agreementVersions).where(and(eq(agreementVersions.agreementId, agreementId), gt(agreementVersions.number, afterNumber)))
    .orderBy(asc(agreementVersions.number)).limit(limit)
}

/** Open proposals of a partnership, for voiding when its partners change. */
export async function listOpenProposals (db: DbOrTx, partnershipId: string): Promise<Array<VersionRow & { partnershipId: string }>> {
  const rows = await db.select({ v: agreementVersions }).from(agreementVersions).innerJoin(agreements, eq(agreements.id, agreementVersions.agreementId))
    .where(and(eq(agreements.partnershipId, partnershipId), eq(agreementVersions.status, 'proposed')))
  return rows.map((r) => ({ ...r.v, partnershipId }))
}

export async function updateVersion (db: DbOrTx, id: string, patch: Partial<Omit<VersionRow, 'id'>>): Promise<VersionRow> {
  const [row] = await db.update(agreementVersions).set(patch).where(eq(agreementVersions.id, id)).returning()
  return row!
}

export async function deleteVersion (db: DbOrTx, id: string): Promise<void> {
  await db.delete(agreementVersions).where(eq(agreementVersions.id, id))
}

export async function insertSignature (db: DbOrTx, row: typeof signatures.$inferInsert): Promise<SignatureRow> {
  const [created] = await db.insert(signatures).values(row).returning()
  return created!
}

export async function listSignatures (db: DbOrTx, versionIds: string[], liveOnly = false): Promise<SignatureRow[]> {
  if (versionIds.length === 0) return []
  return db.select().from(signatures).where(and(inArray(signatures.versionId, versionIds), liveOnly ? isNull(signatures.revokedAt) : undefined))
    .orderBy(asc(signatures.signedAt), asc(signatures.id))
}

export async function revokeSignature (db: DbOrTx, id: string, at: Date): Promise<void> {
  await db.update(signatures).set({ revokedAt: at }).where(eq(signatures.id, id))
}

export async function deleteAgreement (db: DbOrTx, id: string): Promise<void> {
  await db.delete(agreements).where(eq(agreements.id, id))
}

/** The hottest read's query (placeholders partnershipId, agreementId, userId); exported for the scale bench's plans. */
export function agreementDetailQuery (db: DbOrTx) {
  return db.select({ a: agreements, v: agreementVersions, s: signatures }).from(agreements)
    .innerJoin(memberships, and(eq(memberships.partnershipId, agreements.partnershipId), eq(memberships.userId, sql.placeholder('userId')), isNull(memberships.leftAt)))
    .leftJoin(agreementVersions, and(eq(agreementVersions.agreementId, agreements.id), or(eq(agreementVersions.number, agreements.activeVersion), eq(agreementVersions.number, agreements.openProposal))))
    .leftJoin(signatures, eq(signatures.versionId, agreementVersions.id))
    .where(and(eq(agreements.id, sql.placeholder('agreementId')), eq(agreements.partnershipId, sql.placeholder('partnershipId'))))
    .orderBy(asc(agreementVersions.number), asc(signatures.signedAt), asc(signatures.id))
}

/**
 * An agreement with its active version and open proposal (each with all its
 * signatures), only if `userId` is a current member of its partnership: tenancy
 * and the whole read in one prepared statement, one round trip. Undefined when
 * the agreement does not exist there or the caller is not a member.
 */
export async function findAgreementDetailForMember (db: DbOrTx, partnershipId: string, agreementId: string, userId: string): Promise<{ agreement: AgreementRow, versions: Array<{ version: VersionRow, signatures: SignatureRow[] }> } | undefined> {
  const statement = prepared(db, 'agreement_detail_for_member', (db) => agreementDetailQuery(db).prepare('agreement_detail_for_member'))
  const rows = await statement.execute({ partnershipId, agreementId, userId })
  if (rows.length === 0) return undefined
  const versions = new Map<string, { version: VersionRow, signatures: SignatureRow[] }>()
  for (const r of rows) {
    if (!r.v) continue
    let entry = versions.get(r.v.id)
    if (entry === undefined) versions.set(r.v.id, entry = { version: r.v, signatures: [] })
    if (r.s) entry.signatures.push(r.s)
  }
  return { agreement: rows[0]!.a, versions: [...versions.values()] }
}

const iso = isoText

const versionJson = (v: string) => `(select json_build_object(
    'agreementId', ${v}.agreement_id, 'number', ${v}.number, 'kind', ${v}.kind, 'status', ${v}.status, 'content', ${v}.content,
    'contentHash', ${v}.content_hash, 'previousHash', ${v}.previous_hash, 'basedOn', ${v}.based_on, 'authorId', ${v}.author_id,
    'requiredSigners', ${v}.required_signers,
    'signatures', coalesce((select json_agg(json_build_object('signerId', s.signer_id, 'versionNumber', ${v}.number, 'contentHash', s.content_hash,
        'signedAt', ${iso('s.signed_at')}, 'receipt', s.receipt, 'revokedAt', null) order by s.signed_at, s.id)
      from signatures s where s.version_id = ${v}.id and s.revoked_at is null), '[]'::json),
    'declineReason', ${v}.decline_reason, 'createdAt', ${iso(`${v}.created_at`)}, 'proposedAt', ${iso(`${v}.proposed_at`)},
    'activatedAt', ${iso(`${v}.activated_at`)}, 'closedAt', ${iso(`${v}.closed_at`)})`

/**
 * GET agreement rendered by PostgreSQL: the JSON body (the AgreementDetail
 * schema, field for field what `toAgreementDetail` gives; a test holds the two
 * equal) and the ETag version, only for a current member, in one statement. The
 * hottest read of the API skips row decoding, Date objects and re-serialization.
 */
export const AGREEMENT_DETAIL_JSON = `select a.version, json_build_object(
    'id', a.id, 'partnershipId', a.partnership_id, 'title', a.title, 'category', a.category,
    'status', case when a.lifecycle = 'active' and (a.open_proposal is not null or a.revision_requested) then 'in_revision' else a.lifecycle end,
    'activeVersion', a.active_version, 'openProposal', a.open_proposal, 'nextReviewAt', ${iso('a.next_review_at')},
    'createdBy', a.created_by, 'createdAt', ${iso('a.created_at')}, 'updatedAt', ${iso('a.updated_at')},
    'active', ${versionJson('va')} from agreement_versions va where va.agreement_id = a.id and va.number = a.active_version),
    'proposal', ${versionJson('vp')} from agreement_versions vp where vp.agreement_id = a.id and vp.number = a.open_proposal)
  )::text as body
  from agreements a
  join memberships m on m.partnership_id = a.partnership_id and m.user_id = $3 and m.left_at is null
  where a.id = $2 and a.partnership_id = $1`

export const AGREEMENT_VERSION_FOR_MEMBER = `select a.version from agreements a
  join memberships m on m.partnership_id = a.partnership_id and m.user_id = $3 and m.left_at is null
  where a.id = $2 and a.partnership_id = $1`

/** The agreement's ETag version, only for a current member: what validates a rendered body kept in memory. */
export async function agreementVersionForMember (db: DbOrTx, partnershipId: string, agreementId: string, userId: string): Promise<number | undefined> {
  const [row] = await execute(db, AGREEMENT_VERSION_FOR_MEMBER, [partnershipId, agreementId, userId])
  return row === undefined ? undefined : Number(row.version)
}

export async function renderAgreementDetailForMember (db: DbOrTx, partnershipId: string, agreementId: string, userId: string): Promise<{ version: number, body: string } | undefined> {
  const [row] = await execute(db, AGREEMENT_DETAIL_JSON, [partnershipId, agreementId, userId])
  return row === undefined ? undefined : { version: Number(row.version), body: row.body as string }
}

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
  last: { seq: number, hash: string } | null
}

const signingColumns = () => ({
  p: partnerships,
  a: agreements,
  v: agreementVersions,
  role: memberships.role,
  liveSigners: sql<string[] | null>`(select json_agg(s.signer_id) from signatures s where s.version_id = ${agreementVersions.id} and s.revoked_at is null)`,
  previousActiveId: sql<string | null>`(select p.id from agreement_versions p where p.agreement_id = ${agreements.id} and p.number = ${agreements.activeVersion} and p.status = 'active')`,
  // The log head as "seq:hash": one index probe instead of two.
  lastHead: sql<string | null>`(select e.seq || ':' || e.hash from events e where e.partnership_id = ${agreements.partnershipId} order by e.seq desc limit 1)`
})

function signingQuery (db: DbOrTx) {
  return db.select(signingColumns()).from(agreements)
    .innerJoin(partnerships, eq(partnerships.id, agreements.partnershipId))
    .innerJoin(agreementVersions, and(eq(agreementVersions.agreementId, agreements.id), eq(agreementVersions.number, sql.placeholder('number'))))
    .innerJoin(memberships, and(eq(memberships.partnershipId, agreements.partnershipId), eq(memberships.userId, sql.placeholder('userId')), isNull(memberships.leftAt)))
    .where(and(eq(agreements.id, sql.placeholder('agreementId')), eq(agreements.partnershipId, sql.placeholder('partnershipId'))))
}

function toForSigning (row: { p: PartnershipRow, a: AgreementRow, v: VersionRow, role: string, liveSigners: string[] | null, previousActiveId: string | null, lastHead: string | null } | undefined): ForSigning | undefined {
  if (!row) return undefined
  return {
    partnership: row.p,
    agreement: row.a,
    version: row.v,
    role: row.role,
    liveSigners: row.liveSigners ?? [],
    previousActiveId: row.previousActiveId,
    last: row.lastHead === null ? null : { seq: Number(row.lastHead.slice(0, row.lastHead.indexOf(':'))), hash: row.lastHead.slice(row.lastHead.indexOf(':') + 1) }
  }
}

type SigningKey = { partnershipId: string, agreementId: string, number: number, userId: string }

// Each key drives its own index probes (the lateral subquery is not flattened, so the planner cannot trade them
// for a scan of partnerships); `i` ties each row back to its key.
const READ_FOR_SIGNING = `select k.i, r.* from jsonb_to_recordset($1::jsonb) as k(i integer, pid uuid, aid uuid, n integer, uid uuid)
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
    limit 1) r`

const jsonColumns = new Map<Table, Array<[key: string, name: string, column: Column]>>()

/** A row of `table` from its row_to_json (snake_case keys), decoded as drizzle decodes the row itself. */
function fromJson<T extends Table> (table: T, json: unknown): T['$inferSelect'] {
  let columns = jsonColumns.get(table)
  if (columns === undefined) {
    columns = Object.entries(getTableColumns(table)).map(([key, column]) => [key, key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), column])
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

const readers = new WeakMap<object, Batcher<SigningKey, ForSigning | undefined>>()

/**
 * Everything a signature needs, read without locks from one snapshot: for the
 * optimistic sign-off, whose write fails if anything in the partnership changed
 * since (see writeSignatures). Undefined when the agreement or version does not
 * exist there or the caller is not a current member. Reads that arrive while
 * others are running are then made together, in one statement.
 */
export function readForSigning (db: DbOrTx, input: SigningKey): Promise<ForSigning | undefined> {
  let reader = readers.get(db)
  if (reader === undefined) {
    readers.set(db, reader = new Batcher({
      run: async (keys) => {
        const rows = await execute(db, READ_FOR_SIGNING, [JSON.stringify(keys.map((k, i) => ({ i, pid: k.partnershipId, aid: k.agreementId, n: k.number, uid: k.userId })))])
        const found: Array<ForSigning | undefined> = keys.map(() => undefined)
        for (const r of rows) {
          found[Number(r.i)] = toForSigning({
            p: fromJson(partnerships, r.p),
            a: fromJson(agreements, r.a),
            v: fromJson(agreementVersions, r.v),
            role: r.role as string,
            liveSigners: (typeof r.live_signers === 'string' ? JSON.parse(r.live_signers) : r.live_signers) as string[] | null,
            previousActiveId: r.previous_active_id as string | null,
            lastHead: r.last_head as string | null
          })
        }
        return found.map((value) => ({ status: 'fulfilled', value }))
      }
    }))
  }
  return reader.submit(input)
}

/**
 * The same read under the agreement and version row locks, for a caller that
 * already holds the partnership lock (so what it reads cannot change before
 * its transaction ends: every writer of a partnership takes that lock first).
 */
export async function lockVersionForSigning (db: DbOrTx, input: SigningKey): Promise<ForSigning | undefined> {
  const statement = prepared(db, 'lock_version_for_signing', (db) => signingQuery(db).for('update', { of: [agreements, agreementVersions] }).prepare('lock_version_for_signing'))
  const [row] = await statement.execute(input)
  return toForSigning(row)
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
  bump as (update agreements a set version = a.version + 1
    where a.id = any(array(select jsonb_array_elements_text($1::jsonb->'signedOnly')::uuid)) and (select ok from locked)),
  -- The supersede runs before the activation (the activation reads its result), so the one-active-version index never sees two.
  sup as (update agreement_versions v set status = 'superseded', closed_at = x.at
    from jsonb_to_recordset($1::jsonb->'superseded') as x(id uuid, at timestamptz)
    where v.id = x.id and v.status = 'active' and (select ok from locked) returning v.id),
  act as (update agreement_versions v set status = 'active', activated_at = x.at
    from jsonb_to_recordset($1::jsonb->'activated') as x(id uuid, at timestamptz)
    where v.id = x.id and (select count(*) from sup) >= 0 and (select ok from locked) returning v.id),
  agr as (update agreements a set lifecycle = x.lifecycle, active_version = x.active_version, open_proposal = null, title = x.title, category = x.category,
      next_review_at = x.next_review_at, revision_requested = false, version = x.version, updated_at = x.updated_at
    from jsonb_to_recordset($1::jsonb->'activations') as x(id uuid, lifecycle text, active_version integer, title text, category text, next_review_at timestamptz, version integer, updated_at timestamptz)
    where a.id = x.id and (select count(*) from act) = jsonb_array_length($1::jsonb->'activated'))
  select (select count(*) from sig)::integer as signed`

/** A signature's writes: the signature, its events and, when it is the last one, the activation. */
export interface SignatureWrite {
  partnershipId: string
  agreementId: string
  signature: SignatureRow
  events: EventRow[]
  activation?: { previousActiveId: string | null, agreement: AgreementRow }
}

/** The JSON document SIGN reads, for any number of signatures in distinct partnerships. */
function signDocument (writes: SignatureWrite[]): string {
  const doc = { partnerships: [] as string[], signatures: [] as unknown[], events: [] as unknown[], signedOnly: [] as string[], superseded: [] as unknown[], activated: [] as unknown[], activations: [] as unknown[] }
  for (const { partnershipId, agreementId, signature: s, events, activation } of writes) {
    const at = s.signedAt.toISOString()
    doc.partnerships.push(partnershipId)
    doc.signatures.push({ id: s.id, version_id: s.versionId, signer_id: s.signerId, content_hash: s.contentHash, signed_at: at, receipt: s.receipt })
    for (const e of events) doc.events.push({ partnership_id: partnershipId, seq: e.seq, type: e.type, actor_id: e.actorId, subject_type: e.subjectType, subject_id: e.subjectId, data: e.data, at: e.at.toISOString(), prev_hash: e.prevHash, hash: e.hash })
    if (!activation) {
      doc.signedOnly.push(agreementId)
      continue
    }
    const a = activation.agreement
    if (activation.previousActiveId !== null) doc.superseded.push({ id: activation.previousActiveId, at })
    doc.activated.push({ id: s.versionId, at })
    doc.activations.push({ id: a.id, lifecycle: a.lifecycle, active_version: a.activeVersion, title: a.title, category: a.category, next_review_at: a.nextReviewAt?.toISOString() ?? null, version: a.version, updated_at: at })
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
export async function writeSignatures (db: DbOrTx, writes: SignatureWrite[]): Promise<void> {
  const [row] = await execute(db, SIGN, [signDocument(writes)])
  // Cannot happen while partnerships are never deleted; if it did, nothing was written and the caller must not say otherwise.
  if (Number(row?.signed) !== writes.length) throw new Error(`signature write: ${String(row?.signed)} of ${writes.length} written`)
}

/** One signature's writes as one statement (see writeSignatures). */
export const writeSignature = (db: DbOrTx, write: SignatureWrite): Promise<void> => writeSignatures(db, [write])

const writers = new WeakMap<object, Batcher<SignatureWrite, void>>()

/**
 * Writes a signature through the pool's group commit: signatures that arrive
 * while earlier ones are being written are then written together, one
 * statement and one commit for the lot. A batch holds at most one signature per
 * partnership (their logs would collide). If a batch fails (one partnership's
 * log moved on, say), nothing of it was written and each of its signatures is
 * written on its own, succeeding or failing exactly as it would have alone.
 */
export function writeSignatureGrouped (db: DbOrTx, write: SignatureWrite): Promise<void> {
  let writer = writers.get(db)
  if (writer === undefined) {
    writers.set(db, writer = new Batcher({
      key: (w) => w.partnershipId,
      run: async (writes) => {
        try {
          await writeSignatures(db, writes)
          return writes.map(() => ({ status: 'fulfilled', value: undefined }))
        } catch (err) {
          if (writes.length === 1) throw err
          return Promise.allSettled(writes.map((w) => writeSignature(db, w)))
        }
      }
    }))
  }
  return writer.submit(write)
}
