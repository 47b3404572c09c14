import { and, asc, eq, gt, inArray, isNull, or, type SQL, sql } from 'drizzle-orm'
import type { DbOrTx } from '../db/client.ts'
import { prepared } from '../db/driver.ts'
import { memberships } from '../partnerships/partnership.sql.ts'
import {
  type AgreementRow,
  agreements,
  agreementVersions,
  inRevisionSql,
  type SignatureRow,
  signatures,
  type VersionRow
} from './agreement.sql.ts'

export async function insertAgreement(db: DbOrTx, row: typeof agreements.$inferInsert): Promise<AgreementRow> {
  const [created] = await db.insert(agreements).values(row).returning()
  return created!
}

export async function findAgreement(
  db: DbOrTx,
  partnershipId: string,
  id: string,
  lock = false
): Promise<AgreementRow | undefined> {
  const q = db
    .select()
    .from(agreements)
    .where(and(eq(agreements.partnershipId, partnershipId), eq(agreements.id, id)))
    .limit(1)
  const [row] = lock ? await q.for('update') : await q
  return row
}

/**
 * The one way an agreement row changes, so its revision (its ETag) moves with
 * every change of what GET agreement shows: the body kept in memory
 * (agreement.render.ts) is served only while the revision is the one it was
 * rendered at. A change elsewhere that GET agreement shows (a signature, its
 * revocation) calls it with nothing else to change. The sign-off's one-statement
 * write moves the revision in its own SQL; test/architecture/writers.test.ts holds every writer to this.
 */
export async function reviseAgreement(
  db: DbOrTx,
  id: string,
  patch: Partial<Omit<AgreementRow, 'id' | 'version'>>
): Promise<AgreementRow> {
  const [row] = await db
    .update(agreements)
    .set({ ...patch, revision: sql`${agreements.revision} + 1` })
    .where(eq(agreements.id, id))
    .returning()
  return row!
}

/** `in_revision` is derived, so the status filter is expressed over the stored columns (the rule: inRevisionSql). */
export function statusFilter(status: string): SQL | undefined {
  switch (status) {
    case 'in_revision':
      return sql.raw(inRevisionSql('agreements'))
    case 'active':
      return sql.raw(`agreements.lifecycle = 'active' and not (${inRevisionSql('agreements')})`)
    default:
      return eq(agreements.lifecycle, status)
  }
}

export async function listAgreements(
  db: DbOrTx,
  partnershipId: string,
  filter: { status?: string | undefined; category?: string | undefined },
  afterId: string | null,
  limit: number
): Promise<AgreementRow[]> {
  return db
    .select()
    .from(agreements)
    .where(
      and(
        eq(agreements.partnershipId, partnershipId),
        filter.status ? statusFilter(filter.status) : undefined,
        filter.category ? eq(agreements.category, filter.category) : undefined,
        afterId ? gt(agreements.id, afterId) : undefined
      )
    )
    .orderBy(asc(agreements.id))
    .limit(limit)
}

export async function listAgreementsOfPartnership(db: DbOrTx, partnershipId: string): Promise<AgreementRow[]> {
  return db.select().from(agreements).where(eq(agreements.partnershipId, partnershipId))
}

export async function insertVersion(db: DbOrTx, row: typeof agreementVersions.$inferInsert): Promise<VersionRow> {
  const [created] = await db.insert(agreementVersions).values(row).returning()
  return created!
}

export async function findVersion(
  db: DbOrTx,
  agreementId: string,
  number: number,
  lock = false
): Promise<VersionRow | undefined> {
  const q = db
    .select()
    .from(agreementVersions)
    .where(and(eq(agreementVersions.agreementId, agreementId), eq(agreementVersions.number, number)))
    .limit(1)
  const [row] = lock ? await q.for('update') : await q
  return row
}

export async function listVersions(
  db: DbOrTx,
  agreementId: string,
  afterNumber: number,
  limit: number
): Promise<VersionRow[]> {
  return db
    .select()
    .from(agreementVersions)
    .where(and(eq(agreementVersions.agreementId, agreementId), gt(agreementVersions.number, afterNumber)))
    .orderBy(asc(agreementVersions.number))
    .limit(limit)
}

/** Open proposals of a partnership, for voiding when its partners change. */
export async function listOpenProposals(
  db: DbOrTx,
  partnershipId: string
): Promise<Array<VersionRow & { partnershipId: string }>> {
  const rows = await db
    .select({ v: agreementVersions })
    .from(agreementVersions)
    .innerJoin(agreements, eq(agreements.id, agreementVersions.agreementId))
    .where(and(eq(agreements.partnershipId, partnershipId), eq(agreementVersions.status, 'proposed')))
  return rows.map((r) => ({ ...r.v, partnershipId }))
}

export async function updateVersion(
  db: DbOrTx,
  id: string,
  patch: Partial<Omit<VersionRow, 'id'>>
): Promise<VersionRow> {
  const [row] = await db.update(agreementVersions).set(patch).where(eq(agreementVersions.id, id)).returning()
  return row!
}

export async function deleteVersion(db: DbOrTx, id: string): Promise<void> {
  await db.delete(agreementVersions).where(eq(agreementVersions.id, id))
}

export async function insertSignature(db: DbOrTx, row: typeof signatures.$inferInsert): Promise<SignatureRow> {
  const [created] = await db.insert(signatures).values(row).returning()
  return created!
}

export async function listSignatures(db: DbOrTx, versionIds: string[], liveOnly = false): Promise<SignatureRow[]> {
  if (versionIds.length === 0) return []
  return db
    .select()
    .from(signatures)
    .where(and(inArray(signatures.versionId, versionIds), liveOnly ? isNull(signatures.revokedAt) : undefined))
    .orderBy(asc(signatures.signedAt), asc(signatures.id))
}

export async function revokeSignature(db: DbOrTx, id: string, at: Date): Promise<void> {
  await db.update(signatures).set({ revokedAt: at }).where(eq(signatures.id, id))
}

/** A person's unproposed drafts in a partnership, locked (the caller holds the partnership lock). */
export async function lockDraftsOf(
  db: DbOrTx,
  partnershipId: string,
  userId: string
): Promise<Array<{ agreementId: string; version: VersionRow }>> {
  const rows = await db
    .select({ v: agreementVersions })
    .from(agreementVersions)
    .innerJoin(agreements, eq(agreements.id, agreementVersions.agreementId))
    .where(
      and(
        eq(agreements.partnershipId, partnershipId),
        eq(agreementVersions.authorId, userId),
        eq(agreementVersions.status, 'draft')
      )
    )
    .orderBy(asc(agreementVersions.id))
    .for('update', { of: agreementVersions })
  return rows.map((r) => ({ agreementId: r.v.agreementId, version: r.v }))
}

export async function deleteAgreement(db: DbOrTx, id: string): Promise<void> {
  await db.delete(agreements).where(eq(agreements.id, id))
}

/** The hottest read's query (placeholders partnershipId, agreementId, userId); exported for the scale bench's plans. */
export function agreementDetailQuery(db: DbOrTx) {
  return db
    .select({ a: agreements, v: agreementVersions, s: signatures })
    .from(agreements)
    .innerJoin(
      memberships,
      and(
        eq(memberships.partnershipId, agreements.partnershipId),
        eq(memberships.userId, sql.placeholder('userId')),
        isNull(memberships.leftAt)
      )
    )
    .leftJoin(
      agreementVersions,
      and(
        eq(agreementVersions.agreementId, agreements.id),
        or(
          eq(agreementVersions.number, agreements.activeVersion),
          eq(agreementVersions.number, agreements.openProposal)
        )
      )
    )
    .leftJoin(signatures, eq(signatures.versionId, agreementVersions.id))
    .where(
      and(
        eq(agreements.id, sql.placeholder('agreementId')),
        eq(agreements.partnershipId, sql.placeholder('partnershipId'))
      )
    )
    .orderBy(asc(agreementVersions.number), asc(signatures.signedAt), asc(signatures.id))
}

/**
 * An agreement with its active version and open proposal (each with all its
 * signatures), only if `userId` is a current member of its partnership: tenancy
 * and the whole read in one prepared statement, one round trip. Undefined when
 * the agreement does not exist there or the caller is not a member.
 */
export async function findAgreementDetailForMember(
  db: DbOrTx,
  partnershipId: string,
  agreementId: string,
  userId: string
): Promise<
  { agreement: AgreementRow; versions: Array<{ version: VersionRow; signatures: SignatureRow[] }> } | undefined
> {
  const statement = prepared(db, 'agreement_detail_for_member', (db) =>
    agreementDetailQuery(db).prepare('agreement_detail_for_member')
  )
  const rows = await statement.execute({ partnershipId, agreementId, userId })
  if (rows.length === 0) return undefined
  const versions = new Map<string, { version: VersionRow; signatures: SignatureRow[] }>()
  for (const r of rows) {
    if (!r.v) continue
    let entry = versions.get(r.v.id)
    if (entry === undefined) {
      entry = { version: r.v, signatures: [] }
      versions.set(r.v.id, entry)
    }
    if (r.s) entry.signatures.push(r.s)
  }
  return { agreement: rows[0]!.a, versions: [...versions.values()] }
}
