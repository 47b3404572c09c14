import { integer, pgTable, primaryKey, text, uuid } from 'drizzle-orm/pg-core'
import { at } from '../db/columns.ts'
import { partnerships } from '../partnerships/partnership.sql.ts'

/**
 * Blocks of a partnership's audit log found intact by a verification (audit/chain.service.ts): block `block`
 * holds seqs block × BLOCK + 1 to (block + 1) × BLOCK. `mac` is an HMAC, under the `audit` server secret, of
 * a digest PostgreSQL computes over the block's stored rows, so a later verification trusts the block while
 * its rows are byte for byte those it recomputed, and recomputes it otherwise. Neither a row nor a MAC can be
 * forged without the secret, which the database holds only sealed under the KEK. A cache: deleting rows here
 * makes the next verification recompute, nothing else.
 */
export const chainBlocks = pgTable(
  'chain_blocks',
  {
    partnershipId: uuid()
      .notNull()
      .references(() => partnerships.id, { onDelete: 'cascade' }),
    block: integer().notNull(),
    mac: text().notNull(),
    verifiedAt: at().notNull()
  },
  (t) => [primaryKey({ name: 'chain_blocks_pkey', columns: [t.partnershipId, t.block] })]
)
