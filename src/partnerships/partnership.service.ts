import { appendEvent } from '../audit/append.service.ts'
import { newId } from '../db/columns.ts'
import { transaction } from '../db/transaction.ts'
import type { Deps } from '../deps.ts'
import type { Precondition } from '../http/etag.ts'
import { assertNotErased } from '../users/user.service.ts'
import { beginPartnerWrite, requireMembership } from './membership.service.ts'
import type { MemberView } from './partnership.repo.ts'
import * as repo from './partnership.repo.ts'
import type { PartnershipRow } from './partnership.sql.ts'

export interface PartnershipWithMembers {
  partnership: PartnershipRow
  members: MemberView[]
}

/** Creates a partnership whose first partner is its creator; `partnership.created` and `member.joined` open its log. */
export async function createPartnership(
  deps: Pick<Deps, 'db' | 'now'>,
  input: { userId: string; name: string; timezone: string }
): Promise<PartnershipWithMembers> {
  return transaction(deps.db, async (tx) => {
    await assertNotErased(tx, input.userId)
    const at = deps.now()
    const partnership = await repo.insertPartnership(tx, {
      id: newId(),
      name: input.name,
      timezone: input.timezone,
      createdAt: at,
      updatedAt: at
    })
    await repo.insertMembership(tx, {
      partnershipId: partnership.id,
      userId: input.userId,
      role: 'partner',
      joinedAt: at
    })
    await appendEvent(tx, deps.now, {
      partnershipId: partnership.id,
      type: 'partnership.created',
      actorId: input.userId,
      subject: { type: 'partnership', id: partnership.id },
      data: { name: input.name, timezone: input.timezone }
    })
    await appendEvent(tx, deps.now, {
      partnershipId: partnership.id,
      type: 'member.joined',
      actorId: input.userId,
      subject: { type: 'user', id: input.userId },
      data: { role: 'partner' }
    })
    return { partnership, members: await repo.listCurrentMembers(tx, [partnership.id]) }
  })
}

export async function getPartnership(
  deps: Pick<Deps, 'db'>,
  input: { partnershipId: string; userId: string }
): Promise<PartnershipWithMembers> {
  await requireMembership(deps.db, input.partnershipId, input.userId)
  const partnership = (await repo.findPartnership(deps.db, input.partnershipId))!
  return { partnership, members: await repo.listCurrentMembers(deps.db, [partnership.id]) }
}

/** The caller's partnerships (those they are a current member of), keyset-paginated by id. */
export async function listPartnerships(
  deps: Pick<Deps, 'db'>,
  input: { userId: string; afterId: string | null; limit: number }
): Promise<PartnershipWithMembers[]> {
  const rows = await repo.listPartnershipsOf(deps.db, input.userId, input.afterId, input.limit)
  const members = await repo.listCurrentMembers(
    deps.db,
    rows.map((r) => r.id)
  )
  return rows.map((partnership) => ({
    partnership,
    members: members.filter((m) => m.partnershipId === partnership.id)
  }))
}

/** Renames or moves a partnership to another time zone (partners only, If-Match). */
export async function updatePartnership(
  deps: Pick<Deps, 'db' | 'now'>,
  input: {
    partnershipId: string
    userId: string
    precondition: Precondition
    patch: { name?: string | undefined; timezone?: string | undefined }
  }
): Promise<PartnershipWithMembers> {
  return transaction(deps.db, async (tx) => {
    const { partnership } = await beginPartnerWrite(tx, input.partnershipId, input.userId)
    input.precondition.assert(partnership.revision)
    const changes: { name?: string; timezone?: string } = {}
    if (input.patch.name !== undefined && input.patch.name !== partnership.name) changes.name = input.patch.name
    if (input.patch.timezone !== undefined && input.patch.timezone !== partnership.timezone)
      changes.timezone = input.patch.timezone
    if (Object.keys(changes).length === 0)
      return { partnership, members: await repo.listCurrentMembers(tx, [partnership.id]) }
    const updated = await repo.updatePartnership(tx, partnership.id, changes, deps.now())
    await appendEvent(tx, deps.now, {
      partnershipId: partnership.id,
      type: 'partnership.updated',
      actorId: input.userId,
      subject: { type: 'partnership', id: partnership.id },
      data: changes
    })
    return { partnership: updated, members: await repo.listCurrentMembers(tx, [partnership.id]) }
  })
}

export async function listMembers(
  deps: Pick<Deps, 'db'>,
  input: { partnershipId: string; userId: string }
): Promise<MemberView[]> {
  await requireMembership(deps.db, input.partnershipId, input.userId)
  return repo.listCurrentMembers(deps.db, [input.partnershipId])
}
