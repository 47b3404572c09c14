import { appendEvent } from '../audit/append.service.ts'
import type { DbOrTx } from '../db/client.ts'
import { DomainError } from '../errors.ts'
import * as repo from './partnership.repo.ts'
import type { MembershipRow, PartnershipRow, Role } from './partnership.sql.ts'

/** The one answer a non-member gets for anything under a partnership: the same as for an id that does not exist. */
export const noSuchPartnership = (): DomainError => new DomainError('NOT_FOUND', 'no such partnership')

/**
 * The caller's current membership, read from the database on every request (so
 * a member who left is a stranger at once, whatever their token says). Strangers get 404.
 */
export async function requireMembership(db: DbOrTx, partnershipId: string, userId: string): Promise<MembershipRow> {
  const membership = await repo.findCurrentMembership(db, partnershipId, userId)
  if (!membership) throw noSuchPartnership()
  return membership
}

/**
 * Opens a write to a partnership: takes its row lock, then checks that the caller
 * is a current member (404), a partner (403) and that the partnership is still
 * active (409), in that order, so a stranger learns nothing.
 */
export async function beginPartnerWrite(
  tx: DbOrTx,
  partnershipId: string,
  userId: string
): Promise<{ partnership: PartnershipRow; membership: MembershipRow }> {
  const partnership = await repo.lockPartnership(tx, partnershipId)
  if (!partnership) throw noSuchPartnership()
  const membership = await requireMembership(tx, partnershipId, userId)
  if (membership.role !== 'partner')
    throw new DomainError('OBSERVER_READ_ONLY', 'observers can read this partnership but not change it')
  if (partnership.status !== 'active')
    throw new DomainError('PARTNERSHIP_DISSOLVED', 'this partnership is dissolved; it can be read but not changed')
  return { partnership, membership }
}

/** Adds a member (the caller holds the partnership lock and checked the invitation), with `member.joined`. */
export async function admitMember(
  tx: DbOrTx,
  now: () => Date,
  input: { partnershipId: string; userId: string; role: Role; invitationId: string }
): Promise<void> {
  await repo.insertMembership(tx, {
    partnershipId: input.partnershipId,
    userId: input.userId,
    role: input.role,
    joinedAt: now()
  })
  await appendEvent(tx, now, {
    partnershipId: input.partnershipId,
    type: 'member.joined',
    actorId: input.userId,
    subject: { type: 'user', id: input.userId },
    data: { role: input.role, invitationId: input.invitationId }
  })
}

/** Ends a membership (the caller holds the partnership lock): access ends with this transaction, with `member.left`. */
export async function removeMember(
  tx: DbOrTx,
  now: () => Date,
  input: { partnershipId: string; membership: MembershipRow; removedBy?: string }
): Promise<void> {
  await repo.endMembership(tx, input.membership.id, now())
  // `member.left` either way (SPEC §3.6): its actor is who ended the membership, the member or a partner who
  // withdrew their consent to an observer (`reason`).
  await appendEvent(tx, now, {
    partnershipId: input.partnershipId,
    type: 'member.left',
    actorId: input.removedBy ?? input.membership.userId,
    subject: { type: 'user', id: input.membership.userId },
    data:
      input.removedBy === undefined
        ? { role: input.membership.role }
        : { role: input.membership.role, reason: 'consent-withdrawn' }
  })
}

/** The user ids of the current partners: who signs and reviews now. */
export async function currentPartners(db: DbOrTx, partnershipId: string): Promise<string[]> {
  return (await repo.listCurrentMembers(db, [partnershipId])).filter((m) => m.role === 'partner').map((m) => m.userId)
}

/** A partnership with fewer than two partners: read-only from now on (the caller appends `partnership.dissolved`). */
export async function markDissolved(tx: DbOrTx, partnershipId: string, at: Date): Promise<void> {
  await repo.updatePartnership(tx, partnershipId, { status: 'dissolved', dissolvedAt: at }, at)
}
