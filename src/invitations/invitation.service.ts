import { randomBytes } from 'node:crypto'
import { appendEvent } from '../audit/append.service.ts'
import type { DbOrTx } from '../db/client.ts'
import { newId } from '../db/columns.ts'
import { transaction } from '../db/transaction.ts'
import type { Deps } from '../deps.ts'
import { DomainError } from '../errors.ts'
import { secretHash } from '../lib/hash.ts'
import { beginPartnerWrite, requireMembership } from '../partnerships/membership.service.ts'
import * as partnershipRepo from '../partnerships/partnership.repo.ts'
import type { PartnershipRow, Role } from '../partnerships/partnership.sql.ts'
import * as repo from './invitation.repo.ts'
import {
  DEFAULT_TTL_MS,
  hasRoom,
  invitationStatus,
  LIMITS,
  MAX_TTL_MS,
  mayInvite,
  pendingApprovals
} from './invitation.rules.ts'
import type { InvitationRow } from './invitation.sql.ts'

export interface InvitationView {
  invitation: InvitationRow
  status: ReturnType<typeof invitationStatus>
  approvals: Array<{ userId: string; approvedAt: Date }>
  pendingApprovals: string[]
}

const noSuchInvitation = () => new DomainError('NOT_FOUND', 'no such invitation')

async function views(db: DbOrTx, rows: InvitationRow[], now: Date): Promise<InvitationView[]> {
  const approvals = await repo.listApprovals(
    db,
    rows.map((r) => r.id)
  )
  const partnerIds =
    rows.length === 0
      ? []
      : (await partnershipRepo.listCurrentMembers(db, [...new Set(rows.map((r) => r.partnershipId))])).filter(
          (m) => m.role === 'partner'
        )
  return rows.map((invitation) => {
    const mine = approvals.filter((a) => a.invitationId === invitation.id)
    const status = invitationStatus(invitation, now)
    const partners = partnerIds.filter((m) => m.partnershipId === invitation.partnershipId).map((m) => m.userId)
    return {
      invitation,
      status,
      approvals: mine.map((a) => ({ userId: a.userId, approvedAt: a.approvedAt })),
      pendingApprovals:
        status === 'pending'
          ? pendingApprovals(
              invitation,
              partners,
              mine.map((a) => a.userId)
            )
          : []
    }
  })
}

/**
 * Invites someone as partner or observer (partners only). The token is random
 * (256 bits), returned once and stored only as its hash. Expiry defaults to 7
 * days and may not exceed 30.
 */
export async function createInvitation(
  deps: Pick<Deps, 'db' | 'now'>,
  input: { partnershipId: string; userId: string; role: Role; expiresAt?: Date | undefined }
): Promise<{ view: InvitationView; token: string }> {
  const now = deps.now()
  const expiresAt = input.expiresAt ?? new Date(now.getTime() + DEFAULT_TTL_MS)
  return transaction(deps.db, async (tx) => {
    const { partnership } = await beginPartnerWrite(tx, input.partnershipId, input.userId)
    if (expiresAt.getTime() <= now.getTime() || expiresAt.getTime() > now.getTime() + MAX_TTL_MS) {
      throw new DomainError('VALIDATION_FAILED', 'expiresAt must be in the future and at most 30 days away', {
        errors: [{ in: 'body', path: '/expiresAt', message: 'must be in the future and at most 30 days away' }]
      })
    }
    const members = (await partnershipRepo.listCurrentMembers(tx, [partnership.id])).filter(
      (m) => m.role === input.role
    ).length
    if (!hasRoom(input.role, members)) {
      throw new DomainError('PARTNERSHIP_FULL', `a partnership has at most ${LIMITS[input.role]} ${input.role}s`)
    }
    const pending = (await repo.listPendingInvitations(tx, partnership.id)).filter(
      (i) => i.role === input.role && invitationStatus(i, now) === 'pending'
    ).length
    if (!mayInvite(input.role, members, pending)) {
      throw new DomainError(
        'TOO_MANY_INVITATIONS',
        `${pending} ${input.role} invitation(s) are already pending for the ${LIMITS[input.role] - members} free place(s): revoke one, or wait until it is used or expires`
      )
    }
    const token = `acc_inv_${randomBytes(32).toString('base64url')}`
    const invitation = await repo.insertInvitation(tx, {
      id: newId(),
      partnershipId: partnership.id,
      role: input.role,
      tokenHash: secretHash(token),
      createdBy: input.userId,
      createdAt: now,
      expiresAt
    })
    await appendEvent(tx, deps.now, {
      partnershipId: partnership.id,
      type: 'invitation.created',
      actorId: input.userId,
      subject: { type: 'invitation', id: invitation.id },
      data: { role: input.role, expiresAt: expiresAt.toISOString() }
    })
    const [view] = await views(tx, [invitation], now)
    return { view: view!, token }
  })
}

export async function getInvitation(
  deps: Pick<Deps, 'db' | 'now'>,
  input: { partnershipId: string; invitationId: string; userId: string }
): Promise<InvitationView> {
  await requireMembership(deps.db, input.partnershipId, input.userId)
  const invitation = await repo.findInvitation(deps.db, input.partnershipId, input.invitationId)
  if (!invitation) throw noSuchInvitation()
  return (await views(deps.db, [invitation], deps.now()))[0]!
}

export async function listInvitations(
  deps: Pick<Deps, 'db' | 'now'>,
  input: { partnershipId: string; userId: string; afterId: string | null; limit: number }
): Promise<InvitationView[]> {
  await requireMembership(deps.db, input.partnershipId, input.userId)
  return views(
    deps.db,
    await repo.listInvitations(deps.db, input.partnershipId, input.afterId, input.limit),
    deps.now()
  )
}

/** Revokes a pending invitation (partners only); a used, revoked or expired one is 409. */
export async function revokeInvitation(
  deps: Pick<Deps, 'db' | 'now'>,
  input: { partnershipId: string; invitationId: string; userId: string }
): Promise<void> {
  await transaction(deps.db, async (tx) => {
    await beginPartnerWrite(tx, input.partnershipId, input.userId)
    const invitation = await repo.findInvitation(tx, input.partnershipId, input.invitationId, true)
    if (!invitation) throw noSuchInvitation()
    const now = deps.now()
    const status = invitationStatus(invitation, now)
    if (status !== 'pending') throw new DomainError('INVITATION_NOT_PENDING', `the invitation is ${status}`)
    await repo.updateInvitation(tx, invitation.id, { status: 'revoked', revokedAt: now })
    await appendEvent(tx, deps.now, {
      partnershipId: input.partnershipId,
      type: 'invitation.revoked',
      actorId: input.userId,
      subject: { type: 'invitation', id: invitation.id },
      data: { role: invitation.role }
    })
  })
}

/** A partner's consent to an observer joining. Every current partner must give it before the token works. */
export async function approveInvitation(
  deps: Pick<Deps, 'db' | 'now'>,
  input: { partnershipId: string; invitationId: string; userId: string }
): Promise<InvitationView> {
  return transaction(deps.db, async (tx) => {
    await beginPartnerWrite(tx, input.partnershipId, input.userId)
    const invitation = await repo.findInvitation(tx, input.partnershipId, input.invitationId, true)
    if (!invitation) throw noSuchInvitation()
    const now = deps.now()
    if (invitation.role !== 'observer')
      throw new DomainError('NOT_AN_OBSERVER_INVITATION', 'partner invitations need no approval')
    const status = invitationStatus(invitation, now)
    if (status !== 'pending') throw new DomainError('INVITATION_NOT_PENDING', `the invitation is ${status}`)
    const approvals = await repo.listApprovals(tx, [invitation.id])
    if (approvals.some((a) => a.userId === input.userId))
      throw new DomainError('ALREADY_APPROVED', 'you already approved this observer')
    await repo.insertApproval(tx, { invitationId: invitation.id, userId: input.userId, approvedAt: now })
    await appendEvent(tx, deps.now, {
      partnershipId: input.partnershipId,
      type: 'invitation.approved',
      actorId: input.userId,
      subject: { type: 'invitation', id: invitation.id },
      data: { role: invitation.role }
    })
    return (await views(tx, [invitation], now))[0]!
  })
}

/**
 * Redeems an invitation for `userId` inside the transaction that admits them
 * (the caller holds the partnership lock and passes its current members).
 * Used, revoked or expired: 410; an inviter who is no longer a partner: 410
 * (nobody returns on their own invitation); a dissolved partnership, an
 * existing member, an observer not approved by every current partner, or a
 * full role: 409. Marks it accepted and returns the role it grants.
 */
export async function redeemInvitation(
  tx: DbOrTx,
  now: Date,
  input: {
    partnership: PartnershipRow
    members: Array<{ userId: string; role: Role }>
    invitationId: string
    userId: string
  }
): Promise<Role> {
  const { partnership, members } = input
  const invitation = (await repo.findInvitation(tx, partnership.id, input.invitationId, true))!
  const status = invitationStatus(invitation, now)
  if (status === 'accepted') throw new DomainError('INVITATION_USED', 'this invitation was already used')
  if (status === 'revoked') throw new DomainError('INVITATION_REVOKED', 'this invitation was revoked')
  if (status === 'expired')
    throw new DomainError('INVITATION_EXPIRED', 'this invitation has expired; ask for a new one')
  if (partnership.status !== 'active') throw new DomainError('PARTNERSHIP_DISSOLVED', 'this partnership is dissolved')
  // Nobody comes back on their own invitation: leaving revokes it, and this catches any that slipped through.
  if (!members.some((m) => m.userId === invitation.createdBy && m.role === 'partner'))
    throw new DomainError(
      'INVITATION_REVOKED',
      'the partner who invited you is no longer a member; ask a current partner for a new invitation'
    )
  if (members.some((m) => m.userId === input.userId))
    throw new DomainError('ALREADY_MEMBER', 'you are already a member of this partnership')
  const role = invitation.role as Role
  const approvals = await repo.listApprovals(tx, [invitation.id])
  const missing = pendingApprovals(
    invitation,
    members.filter((m) => m.role === 'partner').map((m) => m.userId),
    approvals.map((a) => a.userId)
  )
  if (missing.length > 0)
    throw new DomainError('INVITATION_NOT_APPROVED', `${missing.length} partner(s) have not approved this observer yet`)
  if (!hasRoom(role, members.filter((m) => m.role === role).length))
    throw new DomainError('PARTNERSHIP_FULL', `a partnership has at most ${LIMITS[role]} ${role}s`)
  await repo.updateInvitation(tx, invitation.id, { status: 'accepted', acceptedBy: input.userId, acceptedAt: now })
  return role
}

/** The invitation a token names, wherever it is (404 for an unknown token). */
export async function findInvitationByToken(deps: Pick<Deps, 'db'>, token: string): Promise<InvitationRow> {
  const found = await repo.findInvitationByTokenHash(deps.db, secretHash(token))
  if (!found) throw noSuchInvitation()
  return found
}

/**
 * A partner left (the caller holds the partnership lock): their pending
 * invitations are revoked in the same transaction, so nobody, the leaver
 * included, joins on them later.
 */
export async function revokeInvitationsOf(
  tx: DbOrTx,
  now: () => Date,
  input: { partnershipId: string; userId: string }
): Promise<void> {
  const at = now()
  for (const invitation of await repo.listPendingInvitations(tx, input.partnershipId, input.userId)) {
    if (invitationStatus(invitation, at) !== 'pending') continue
    await repo.updateInvitation(tx, invitation.id, { status: 'revoked', revokedAt: at })
    await appendEvent(tx, now, {
      partnershipId: input.partnershipId,
      type: 'invitation.revoked',
      actorId: input.userId,
      subject: { type: 'invitation', id: invitation.id },
      data: { role: invitation.role, reason: 'inviter-left' }
    })
  }
}
