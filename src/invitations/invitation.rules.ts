import type { Role } from '../partnerships/partnership.sql.ts'

export const LIMITS: Record<Role, number> = { partner: 8, observer: 4 }
export const DEFAULT_TTL_MS = 7 * 24 * 3600_000
export const MAX_TTL_MS = 30 * 24 * 3600_000

export type InvitationStatus = 'pending' | 'accepted' | 'revoked' | 'expired'

/** `expired` is derived: a pending invitation past its expiry. */
export function invitationStatus(inv: { status: string; expiresAt: Date }, now: Date): InvitationStatus {
  if (inv.status === 'pending' && inv.expiresAt <= now) return 'expired'
  return inv.status as InvitationStatus
}

/** The partners who still have to approve an observer invitation (none for a partner invitation). */
export function pendingApprovals(
  inv: { role: string },
  partners: readonly string[],
  approvedBy: readonly string[]
): string[] {
  if (inv.role !== 'observer') return []
  return partners.filter((p) => !approvedBy.includes(p))
}

/** Whether one more member of `role` fits. */
export const hasRoom = (role: Role, current: number): boolean => current < LIMITS[role]

/** Whether one more invitation for `role` may be pending: at most as many as there are free places of that role. */
export const mayInvite = (role: Role, members: number, pending: number): boolean => members + pending < LIMITS[role]
