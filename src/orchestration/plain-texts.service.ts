import { randomBytes } from 'node:crypto'
import { declineReasonPurpose } from '../agreements/version.rules.ts'
import type { Db } from '../db/client.ts'
import { transaction } from '../db/transaction.ts'
import { DomainError } from '../errors.ts'
import {
  answerNotePurpose,
  appreciationPurpose,
  descriptionPurpose,
  resolutionNotePurpose
} from '../incidents/incident.texts.ts'
import type { Kek } from '../keys/kek.ts'
import { KEY_BYTES, seal } from '../lib/seal.ts'
import { PLAIN_MARK, sealPersonalText } from '../users/personal-text.service.ts'
import { findPlainTexts, type PersonalTextColumn, replacePlainText } from './plain-texts.repo.ts'

/** Every column of personal texts, with whose data key seals it (users/personal-text.service.ts). */
export const PERSONAL_TEXT_COLUMNS: readonly PersonalTextColumn[] = [
  {
    table: 'agreement_versions',
    column: 'decline_reason',
    author: 'declined_by',
    keys: ['id'],
    purpose: (id) => declineReasonPurpose(id)
  },
  {
    table: 'review_responses',
    column: 'note',
    author: 'user_id',
    keys: ['review_id', 'user_id'],
    purpose: (reviewId, userId) => `review-response.note:${reviewId}:${userId}`
  },
  {
    table: 'appreciations',
    column: 'text',
    author: 'author_id',
    keys: ['id'],
    purpose: appreciationPurpose
  },
  {
    table: 'incidents',
    column: 'description',
    author: 'reporter_id',
    keys: ['id'],
    purpose: descriptionPurpose
  },
  {
    table: 'incidents',
    column: 'answer_note',
    author: 'subject_id',
    keys: ['id'],
    purpose: answerNotePurpose
  },
  {
    table: 'incidents',
    column: 'resolution_note',
    author: 'resolved_by',
    keys: ['id'],
    purpose: resolutionNotePurpose
  }
]

const BATCH = 200

/**
 * Seals the personal texts stored before data keys existed (marked `plain:` by migration 0012), at start,
 * before the app serves: in batches of short transactions, each text under its author's data key. A text
 * whose author is unknown (a decline before decliners were recorded, with no event naming them; only nullable
 * columns have such texts) is dropped, and one whose author was erased is shredded, rather than kept
 * readable. Returns how many were sealed.
 */
export async function sealPlainTexts(deps: { db: Db; kek: Kek; now: () => Date }): Promise<number> {
  let sealed = 0
  for (const column of PERSONAL_TEXT_COLUMNS) {
    for (;;) {
      const batch = await findPlainTexts(deps.db, column, BATCH)
      if (batch.length === 0) break
      await transaction(deps.db, async (tx) => {
        for (const text of batch) {
          const plain = text.value.slice(PLAIN_MARK.length)
          const value =
            text.authorId === null
              ? null
              : await sealPersonalText(deps, tx, text.authorId, plain, column.purpose(...text.keys)).catch((err) => {
                  // The author was erased (no data key can be made for them): their text goes with them, sealed
                  // under a key thrown away at once (some of these columns are NOT NULL). It reads as every
                  // erased text does: null, erased: true.
                  if (err instanceof DomainError && err.code === 'NOT_FOUND')
                    return seal(randomBytes(KEY_BYTES), plain, 'accord:text:shredded')
                  throw err
                })
          await replacePlainText(tx, column, text, value)
        }
      })
      sealed += batch.length
    }
  }
  return sealed
}
