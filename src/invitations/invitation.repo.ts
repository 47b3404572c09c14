import { and, asc, eq, gt, inArray } from 'drizzle-orm'
import type { DbOrTx } from '../db/client.ts'
import { type InvitationRow, invitationApprovals, invitations } from './invitation.sql.ts'

export async function insertInvitation(db: DbOrTx, row: typeof invitations.$inferInsert): Promise<InvitationRow> {
  const [created] = await db.insert(invitations).values(row).returning()
  return created!
}

export async function findInvitation(
  db: DbOrTx,
  partnershipId: string,
  id: string,
  lock = false
): Promise<InvitationRow | undefined> {
  const q = db
    .select()
    .from(invitations)
    .where(and(eq(invitations.partnershipId, partnershipId), eq(invitations.id, id)))
    .limit(1)
  const [row] = lock ? await q.for('update') : await q
  return row
}

export async function findInvitationByTokenHash(db: DbOrTx, tokenHash: string): Promise<InvitationRow | undefined> {
  const [row] = await db.select().from(invitations).where(eq(invitations.tokenHash, tokenHash)).limit(1)
  return row
}

export async function listInvitations(
  db: DbOrTx,
  partnershipId: string,
  afterId: string | null,
  limit: number
): Promise<InvitationRow[]> {
  return db
    .select()
    .from(invitations)
    .where(and(eq(invitations.partnershipId, partnershipId), afterId ? gt(invitations.id, afterId) : undefined))
    .orderBy(asc(invitations.id))
    .limit(limit)
}

export async function updateInvitation(
  db: DbOrTx,
  id: string,
  patch: Partial<Pick<InvitationRow, 'status' | 'acceptedBy' | 'acceptedAt' | 'revokedAt'>>
): Promise<InvitationRow> {
  const [row] = await db.update(invitations).set(patch).where(eq(invitations.id, id)).returning()
  return row!
}

export async function insertApproval(db: DbOrTx, row: typeof invitationApprovals.$inferInsert): Promise<void> {
  await db.insert(invitationApprovals).values(row)
}

export async function listApprovals(
  db: DbOrTx,
  invitationIds: string[]
): Promise<Array<typeof invitationApprovals.$inferSelect>> {
  if (invitationIds.length === 0) return []
  return db
    .select()
    .from(invitationApprovals)
    .where(inArray(invitationApprovals.invitationId, invitationIds))
    .orderBy(asc(invitationApprovals.approvedAt))
}

/** Invitations still marked pending (some may have expired since: see invitationStatus), optionally only those `createdBy` made. */
export async function listPendingInvitations(
  db: DbOrTx,
  partnershipId: string,
  createdBy?: string
): Promise<InvitationRow[]> {
  return db
    .select()
    .from(invitations)
    .where(
      and(
        eq(invitations.partnershipId, partnershipId),
        eq(invitations.status, 'pending'),
        createdBy ? eq(invitations.createdBy, createdBy) : undefined
      )
    )
    .orderBy(asc(invitations.id))
}
