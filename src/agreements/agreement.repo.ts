import { and, asc, eq, gt, inArray, isNull, or, sql, type SQL } from 'drizzle-orm'
import type { DbOrTx } from '../db/client.ts'
import { execute, isoText, prepared } from '../db/prepared.ts'
import { memberships } from '../partnerships/partnership.sql.ts'
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
