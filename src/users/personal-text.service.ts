import { randomBytes } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import type { DbOrTx } from '../db/client.ts'
import { DomainError } from '../errors.ts'
import { type Kek, KekError } from '../keys/kek.ts'
import { keptCopy } from '../lib/kept-bytes.ts'
import { KEY_BYTES, open, SealOpenError, seal } from '../lib/seal.ts'
import {
  findSealedDataKeys,
  insertDataKey,
  lockSealedDataKey,
  pageDataKeys,
  replaceSealedDataKey
} from './data-key.repo.ts'

/**
 * Personal texts: every free text only one person wrote (review notes, decline reasons, incident
 * descriptions and notes, appreciations) is sealed at rest with AES-256-GCM under that person's data key,
 * itself sealed under the KEK (keys/kek.ts). Erasing the person deletes the key (crypto-shredding): their
 * texts then read `null` with `erased: true`, here and in every backup. The AAD names the text's column
 * and row (`incident.description:<id>`), so a ciphertext moved to another row does not open.
 *
 * Texts stored before data keys existed carry the `plain:` mark (migration 0012) until the next start seals
 * them (orchestration/plain-texts.service.ts); they read as written meanwhile.
 */
export const PLAIN_MARK = 'plain:'

/** A stored text as its row holds it, with its author and what it is. */
export interface StoredText {
  readonly authorId: string | null
  readonly value: string | null
  /** `<what>:<row>`, e.g. `incident.description:<id>`. */
  readonly purpose: string
}

export interface OpenedText {
  readonly text: string | null
  /** The author was erased: the text is gone for good. */
  readonly erased: boolean
}

// Not Pick<Deps>: deps.ts seals the plain texts at start through this module.
interface Use {
  readonly kek: Kek
  readonly now: () => Date
}

/** The AAD of a person's data key sealed under the KEK, and of a text sealed under a data key (also the bench seed's). */
export const keyPurpose = (userId: string) => `accord:data-key:${userId}`
export const textPurpose = (purpose: string) => `accord:text:${purpose}`

// Opened data keys by their sealed form (never by person: a read finds the sealed form in the database in
// the same request, so a key erased elsewhere is never found here again).
const openedKeys = new LRUCache<string, Buffer>({ max: 10_000 })

function dataKey(deps: Pick<Use, 'kek'>, userId: string, sealedKey: string): Buffer {
  let key = openedKeys.get(sealedKey)
  if (key === undefined) {
    key = keptCopy(Buffer.from(deps.kek.open(sealedKey, keyPurpose(userId)), 'base64'))
    openedKeys.set(sealedKey, key)
  }
  return key
}

/** Forgets an opened key at once (the erasing instance; others never look it up again). */
export function forgetDataKey(sealedKey: string): void {
  openedKeys.delete(sealedKey)
}

/**
 * Seals a text its author writes in this transaction, creating their data key on their first text. The key
 * stays share-locked until the transaction ends, so an erasure running meanwhile shreds this text too.
 */
export async function sealPersonalText(
  deps: Use,
  tx: DbOrTx,
  authorId: string,
  text: string,
  purpose: string
): Promise<string> {
  let sealedKey = await lockSealedDataKey(tx, authorId)
  if (sealedKey === undefined) {
    const candidate = deps.kek.seal(randomBytes(KEY_BYTES).toString('base64'), keyPurpose(authorId))
    sealedKey = (await insertDataKey(tx, authorId, candidate, deps.now()))
      ? candidate
      : await lockSealedDataKey(tx, authorId)
    if (sealedKey === undefined) throw new DomainError('NOT_FOUND', 'no such user')
  }
  return seal(dataKey(deps, authorId, sealedKey), text, textPurpose(purpose))
}

/** Seals a text that may be absent. */
export async function sealOptionalText(
  deps: Use,
  tx: DbOrTx,
  authorId: string,
  text: string | null,
  purpose: string
): Promise<string | null> {
  return text === null ? null : sealPersonalText(deps, tx, authorId, text, purpose)
}

/**
 * Opens one stored text with its author's sealed data key as read in the same statement as the text (a render
 * that joins data_keys; undefined: none, the author was erased): the one decision every reader of a personal
 * text makes, so a text read by a render and by openPersonalTexts reads the same.
 */
export function openStoredText(deps: Pick<Use, 'kek'>, t: StoredText, sealedKey: string | undefined): OpenedText {
  if (t.value === null) return { text: null, erased: false }
  if (t.value.startsWith(PLAIN_MARK)) return { text: t.value.slice(PLAIN_MARK.length), erased: false }
  if (sealedKey === undefined || t.authorId === null) return { text: null, erased: true }
  return { text: open(dataKey(deps, t.authorId, sealedKey), t.value, textPurpose(t.purpose)), erased: false }
}

/** Opens stored texts in one query for their authors' keys: `null` with `erased` when the author was erased. */
export async function openPersonalTexts(
  deps: Pick<Use, 'kek'>,
  db: DbOrTx,
  texts: readonly StoredText[]
): Promise<OpenedText[]> {
  const authors = new Set<string>()
  for (const t of texts)
    if (t.value !== null && t.authorId !== null && !t.value.startsWith(PLAIN_MARK)) authors.add(t.authorId)
  const keys = await findSealedDataKeys(db, [...authors])
  return texts.map((t) => openStoredText(deps, t, t.authorId === null ? undefined : keys.get(t.authorId)))
}

/**
 * Re-seals one page of data keys (after user `after`, at most `limit`) from `from` to `to`: the keys stay the
 * same, so every text sealed under them still opens. Returns how many and the last user, null when done.
 */
export async function resealDataKeys(
  tx: DbOrTx,
  from: Kek,
  to: Kek,
  after: string | null,
  limit: number
): Promise<{ count: number; last: string | null }> {
  const page = await pageDataKeys(tx, after, limit)
  for (const row of page) {
    let key: string
    try {
      key = from.open(row.sealedKey, keyPurpose(row.userId))
    } catch (err) {
      if (!(err instanceof SealOpenError)) throw err
      throw new KekError(
        `the data key of user ${row.userId} does not open with the ${from.source} (nor SECRET_KEY_EXTRA)`
      )
    }
    await replaceSealedDataKey(tx, row.userId, row.sealedKey, to.seal(key, keyPurpose(row.userId)))
  }
  return { count: page.length, last: page.length < limit ? null : page[page.length - 1]!.userId }
}
