import { createHmac } from 'node:crypto'
import type { DbOrTx } from '../db/client.ts'
import { transaction } from '../db/transaction.ts'
import type { Deps } from '../deps.ts'
import { DomainError } from '../errors.ts'
import type { Principal } from '../http/authenticator.ts'
import type { Precondition } from '../http/etag.ts'
import { TimezoneSchema } from '../http/schemas.ts'
import * as repo from './user.repo.ts'
import type { UserRow } from './user.sql.ts'

/**
 * The Accord user behind a verified token, created on the first call, and when its identity was last erased (null
 * if never). The display name and time zone start from the token's `name` and `zoneinfo` claims when present;
 * afterwards only PATCH /v1/me changes them (a token cannot rename you). A token of an erased identity issued by
 * the erasure is refused (401 account-erased) whether or not its person has signed up again since: the erasure
 * is looked up by the identity's HMAC on every provisioning, and the caller keeps its time for the tokens it
 * admits through a remembered identity (predatesAccount). Nothing in the new row points to the erased one.
 */
export async function ensureUser(
  deps: Pick<Deps, 'db' | 'now' | 'serverSecrets'>,
  principal: Principal
): Promise<{ user: UserRow; erasedAt: Date | null }> {
  const hashes = identityHashesOf(deps, principal)
  const existing = await repo.findUserAndErasure(deps.db, principal.issuer, principal.subject, hashes)
  if (existing) {
    if (predatesAccount(principal, existing.lastErasedAt, deps.now())) throw erasedAccount()
    return { user: existing.user, erasedAt: existing.lastErasedAt }
  }
  const erasedAt = (await repo.findErasedIdentity(deps.db, hashes)) ?? null
  if (predatesAccount(principal, erasedAt, deps.now())) throw erasedAccount()
  const zone = TimezoneSchema.safeParse(principal.zoneinfo ?? 'UTC')
  const at = deps.now()
  const user = await repo.insertUser(deps.db, {
    issuer: principal.issuer,
    subject: principal.subject,
    displayName: principal.name ?? 'Member',
    timezone: zone.success ? zone.data : 'UTC',
    createdAt: at,
    updatedAt: at
  })
  return { user, erasedAt }
}

/**
 * Whether a token was issued by the time its identity was last erased (`erasedAt`): then it was the erased
 * person's, and it stays refused, on the new account too if they signed up again (a stolen token must not come
 * back to life). Without `iat`, within a day of the erasure.
 */
export function predatesAccount(principal: Pick<Principal, 'issuedAt'>, erasedAt: Date | null, now: Date): boolean {
  if (erasedAt === null) return false
  return principal.issuedAt === null
    ? now.getTime() - erasedAt.getTime() < ERASED_TOKEN_WITHOUT_IAT_MS
    : principal.issuedAt * 1000 <= erasedAt.getTime()
}

/**
 * The identity's HMAC: what erased_identities holds instead of (iss, sub), keyed by the server's `identity`
 * secret (keys/server-secret.service.ts, sealed under the KEK): a dump plus a guessed identity confirms nothing.
 */
export function erasedIdentityHash(secret: Buffer, issuer: string, subject: string): string {
  return createHmac('sha256', secret).update(`${issuer}\n${subject}`).digest('base64url')
}

/**
 * The same HMAC under the fixed key of the erasures made before the server secret existed: still looked up, so
 * their old tokens stay refused; for those rows alone a guessed identity can be confirmed (README, "Erasure").
 */
function legacyErasedIdentityHash(issuer: string, subject: string): string {
  return createHmac('sha256', 'accord:erased-identity').update(`${issuer}\n${subject}`).digest('base64url')
}

/** The digests an identity's erasure is recorded under: the server secret's HMAC, and the legacy one. */
const identityHashesOf = (deps: Pick<Deps, 'serverSecrets'>, principal: Principal): [string, string] => [
  erasedIdentityHash(deps.serverSecrets.identity, principal.issuer, principal.subject),
  legacyErasedIdentityHash(principal.issuer, principal.subject)
]
const ERASED_TOKEN_WITHOUT_IAT_MS = 24 * 60 * 60 * 1000

export const erasedAccount = (): DomainError =>
  new DomainError('ACCOUNT_ERASED', 'this account was erased; sign in again to start anew')

/**
 * The caller's own row; an erased one answers 401 (an instance may still map a token of theirs to the old id:
 * the row, not that mapping, decides).
 */
export async function getUser(deps: Pick<Deps, 'db'>, userId: string): Promise<UserRow> {
  const user = await repo.findUserById(deps.db, userId)
  if (!user) throw new DomainError('NOT_FOUND', 'no such user')
  if (user.erasedAt !== null) throw erasedAccount()
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
    if (user.erasedAt !== null) throw erasedAccount()
    input.precondition.assert(user.revision)
    const patch: { displayName?: string; timezone?: string } = {}
    if (input.patch.displayName !== undefined) patch.displayName = input.patch.displayName
    if (input.patch.timezone !== undefined) patch.timezone = input.patch.timezone
    return repo.updateUser(tx, user.id, patch, deps.now())
  })
}

/**
 * Inside a transaction that gives a person something new (a partnership, a membership, a calendar feed):
 * refuses an erased person. An instance may still map an old token of theirs to their id; the row decides.
 * The share lock makes an erasure running meanwhile wait for this transaction, then undo its work too.
 */
export async function assertNotErased(tx: DbOrTx, userId: string): Promise<void> {
  const user = await repo.shareLockUser(tx, userId)
  if (!user) throw new DomainError('NOT_FOUND', 'no such user')
  if (user.erasedAt !== null) throw erasedAccount()
}
