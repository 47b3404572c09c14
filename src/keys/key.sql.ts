import { sql } from 'drizzle-orm'
import { check, jsonb, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core'
import { at } from '../db/columns.ts'

/**
 * The service's own signing keys (Ed25519). Kept in the database so that every
 * instance signs and verifies with the same key. Exactly one key is `active`
 * (enforced by a partial unique index); retired keys stay published in the JWKS
 * so old receipts and tokens remain verifiable. `private_jwk` holds `{ "sealed": "v1.…" }`: the private
 * JWK sealed under the KEK (keys/kek.ts) for `accord:service-key:<kid>`; a bare JWK (before sealing
 * existed) is sealed at the next start.
 */
export const serviceKeys = pgTable(
  'service_keys',
  {
    kid: text().primaryKey(),
    status: text().notNull(),
    publicJwk: jsonb().$type<Record<string, unknown>>().notNull(),
    privateJwk: jsonb().$type<Record<string, unknown>>().notNull(),
    createdAt: at().notNull()
  },
  (t) => [
    check('service_keys_status_check', sql`${t.status} in ('active', 'retired')`),
    uniqueIndex('service_keys_one_active_idx').on(t.status).where(sql`${t.status} = 'active'`)
  ]
)
