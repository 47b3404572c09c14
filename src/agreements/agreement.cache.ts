import { LRUCache } from 'lru-cache'

/** GET agreement as the database rendered it, with the ETag version it was rendered at. */
export interface RenderedAgreement { readonly partnershipId: string, readonly version: number, readonly body: string }

/**
 * Rendered agreement bodies, least recently used out first, bounded in bytes.
 * An entry is only ever served after the database confirmed, in the same
 * request, that the caller is a current member and that the agreement's ETag
 * version is still the one it was rendered at: every change to the
 * representation moves that version in its own transaction, so an equal
 * version means an equal body. Per process, so nothing is shared between
 * instances and nothing needs invalidating.
 */
export type AgreementBodies = LRUCache<string, RenderedAgreement>

export function agreementBodies (maxBytes: number): AgreementBodies | null {
  if (maxBytes <= 0) return null
  // UTF-16 at worst, plus the entry's own overhead.
  return new LRUCache<string, RenderedAgreement>({ maxSize: maxBytes, sizeCalculation: (v) => v.body.length * 2 + 200 })
}
