import { transaction } from '../db/transaction.ts'
import type { Deps } from '../deps.ts'
import { DomainError } from '../errors.ts'
import type { Principal } from '../http/authenticator.ts'
import type { Precondition } from '../http/etag.ts'
import { TimezoneSchema } from '../http/schemas.ts'
import * as repo from './user.repo.ts'
import type { UserRow } from './user.sql.ts'

/**
 * The Accord user behind a verified token, created on the first call. The display
 * name and time zone start from the token's `name` and `zoneinfo` claims when
 * present; afterwards only PATCH /v1/me changes them (a token cannot rename you).
 */
export async function ensureUser(deps: Pick<Deps, 'db' | 'now'>, principal: Principal): Promise<UserRow> {
  const existing = await repo.findUserByIdentity(deps.db, principal.issuer, principal.subject)
  if (existing) return existing
  const zone = TimezoneSchema.safeParse(principal.zoneinfo ?? 'UTC')
  const at = deps.now()
  return repo.insertUser(deps.db, {
    issuer: principal.issuer,
    subject: principal.subject,
    displayName: principal.name ?? 'Member',
    timezone: zone.success ? zone.data : 'UTC',
    createdAt: at,
    updatedAt: at
  })
}

export async function getUser(deps: Pick<Deps, 'db'>, userId: string): Promise<UserRow> {
  const user = await repo.findUserById(deps.db, userId)
  if (!user) throw new DomainError('NOT_FOUND', 'no such user')
  return user
}

/** Changes the caller's profile if the version they read is still current (If-Match). */
export async function updateProfile(
  deps: Pick<Deps, 'db' | 'now'>,
  input: {
    userId: string
    precondition: Precondition
    patch: { displayName?: string | undefined; timezone?: string | undefined }
  }
): Promise<UserRow> {
  return transaction(deps.db, async (tx) => {
    const user = await repo.lockUser(tx, input.userId)
    if (!user) throw new DomainError('NOT_FOUND', 'no such user')
    input.precondition.assert(user.revision)
    const patch: { displayName?: string; timezone?: string } = {}
    if (input.patch.displayName !== undefined) patch.displayName = input.patch.displayName
    if (input.patch.timezone !== undefined) patch.timezone = input.patch.timezone
    return repo.updateUser(tx, user.id, patch, deps.now())
  })
}
