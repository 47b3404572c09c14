// The schema barrel: every table, for drizzle-kit and for the typed client.
export * from '../keys/key.sql.ts'
export * from '../users/user.sql.ts'
export * from '../http/idempotency.sql.ts'
export * from '../partnerships/partnership.sql.ts'
export * from '../invitations/invitation.sql.ts'
export * from '../audit/event.sql.ts'
export * from '../agreements/agreement.sql.ts'
