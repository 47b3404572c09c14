import { and, asc, eq, inArray, isNull, ne, or } from 'drizzle-orm'
import { events } from '../audit/event.sql.ts'
import type { DbOrTx } from '../db/client.ts'
import { users } from '../users/user.sql.ts'
import { agreementVersions, type SignatureRow, signatures, type VersionRow } from './agreement.sql.ts'

/** Every version of an agreement but drafts (its author's alone, never agreed to), oldest first. */
export async function listCertifiedVersions(db: DbOrTx, agreementId: string): Promise<VersionRow[]> {
  return db
    .select()
    .from(agreementVersions)
    .where(and(eq(agreementVersions.agreementId, agreementId), ne(agreementVersions.status, 'draft')))
    .orderBy(asc(agreementVersions.number))
}

/** Every signature of these versions, revoked ones included, in the order they were given. */
export async function listAllSignatures(db: DbOrTx, versionIds: readonly string[]): Promise<SignatureRow[]> {
  if (versionIds.length === 0) return []
  return db
    .select()
    .from(signatures)
    .where(inArray(signatures.versionId, [...versionIds]))
    .orderBy(asc(signatures.signedAt), asc(signatures.id))
}

export interface SubjectEvent {
  seq: number
  type: string
  at: Date
  hash: string
  subjectType: string
  subjectId: string
}

/** The events of a partnership's log about the agreement itself or one of these versions, by seq. */
export async function listEventsAbout(
  db: DbOrTx,
  partnershipId: string,
  agreementId: string,
  versionIds: readonly string[]
): Promise<SubjectEvent[]> {
  const aboutVersions =
    versionIds.length === 0
      ? undefined
      : and(eq(events.subjectType, 'version'), inArray(events.subjectId, [...versionIds]))
  return db
    .select({
      seq: events.seq,
      type: events.type,
      at: events.at,
      hash: events.hash,
      subjectType: events.subjectType,
      subjectId: events.subjectId
    })
    .from(events)
    .where(
      and(
        eq(events.partnershipId, partnershipId),
        or(and(eq(events.subjectType, 'agreement'), eq(events.subjectId, agreementId)), aboutVersions)
      )
    )
    .orderBy(asc(events.seq))
}

/** Display names of these users (what the printable page shows beside their ids); none for an erased person. */
export async function displayNames(db: DbOrTx, userIds: readonly string[]): Promise<Map<string, string>> {
  if (userIds.length === 0) return new Map()
  const rows = await db
    .select({ id: users.id, displayName: users.displayName })
    .from(users)
    .where(and(inArray(users.id, [...userIds]), isNull(users.erasedAt)))
  return new Map(rows.map((r) => [r.id, r.displayName]))
}
