/**
 * Proactive content negotiation (RFC 9110 §12.5.1): the offered media type the `Accept` header prefers,
 * by quality then by specificity, ties going to the earlier offer; the first offer when there is no header.
 * Null when none is acceptable (the route answers 406).
 */
export function negotiate(accept: string | undefined, offered: readonly string[]): string | null {
  if (accept === undefined || accept.trim() === '') return offered[0] ?? null
  const ranges = accept.split(',').flatMap((part) => {
    const [range, ...params] = part.split(';').map((s) => s.trim().toLowerCase())
    const [type, subtype] = (range ?? '').split('/')
    if (!type || !subtype) return []
    const q = params.find((p) => p.startsWith('q='))
    const quality = q === undefined ? 1 : Number(q.slice(2))
    return [{ type, subtype, quality: Number.isFinite(quality) ? Math.min(Math.max(quality, 0), 1) : 0 }]
  })
  let best: { offer: string; quality: number } | null = null
  for (const offer of offered) {
    const [type, subtype] = offer.split('/')
    // The most specific range that matches decides this offer's quality.
    const match = ranges
      .filter((r) => (r.type === '*' || r.type === type) && (r.subtype === '*' || r.subtype === subtype))
      .sort((a, b) => specificity(b) - specificity(a))[0]
    if (match && match.quality > 0 && (best === null || match.quality > best.quality))
      best = { offer, quality: match.quality }
  }
  return best?.offer ?? null
}

const specificity = (r: { type: string; subtype: string }): number => (r.type === '*' ? 0 : r.subtype === '*' ? 1 : 2)
