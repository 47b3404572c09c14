// The schema barrel: every table, for drizzle-kit and for the typed client.
export * from '../keys/key.sql.ts'
export * from '../users/user.sql.ts'
export * from '../http/idempotency.sql.ts'
