// The schema barrel: every table, for drizzle-kit and for the typed client.

export * from '../agreements/agreement.sql.ts'
export * from '../audit/event.sql.ts'
export * from '../calendar/calendar-token.sql.ts'
export * from '../idempotency/idempotency.sql.ts'
export * from '../incidents/incident.sql.ts'
export * from '../invitations/invitation.sql.ts'
export * from '../keys/key.sql.ts'
export * from '../keys/server-secret.sql.ts'
export * from '../partnerships/partnership.sql.ts'
export * from '../reviews/review.sql.ts'
export * from '../users/user.sql.ts'
export * from '../webhooks/webhook.sql.ts'
