import { z } from 'zod'
import { DomainError } from '../errors.ts'

/** `?limit=` 1–100 (default 20) and an opaque `?cursor=` from a previous page's `nextCursor`. */
export const PageQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().min(1).max(512).optional()
})
export type PageQuery = z.infer<typeof PageQuerySchema>

export const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable() })

/** Cursors are base64url JSON of the last item's sort key: opaque to clients, checked on the way back in. */
export function encodeCursor(key: unknown): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url')
}

export function decodeCursor<T>(cursor: string | undefined, schema: z.ZodType<T>): T | null {
  if (cursor === undefined) return null
  try {
    const parsed = schema.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')))
    if (parsed.success) return parsed.data
  } catch {}
  throw new DomainError('INVALID_CURSOR', 'the cursor is not one this list gave out', {
    errors: [{ in: 'query', path: '/cursor', message: 'unknown cursor' }]
  })
}

/** Given up to limit+1 rows in order, the page and the cursor after its last item. */
export function paginate<R, K>(
  rows: R[],
  limit: number,
  keyOf: (row: R) => K
): { items: R[]; nextCursor: string | null } {
  const items = rows.slice(0, limit)
  const last = items.at(-1)
  return { items, nextCursor: rows.length > limit && last !== undefined ? encodeCursor(keyOf(last)) : null }
}
