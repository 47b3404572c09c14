import { isDeepStrictEqual as isEqual } from 'node:util'
import { isTerms, type TermsContent, type VersionContent } from './content.schemas.ts'

type Clause = TermsContent['clauses'][number]
type Change<T> = { from: T; to: T }

export interface ClauseChange {
  key: string
  text?: Change<string>
  appliesTo?: Change<Clause['appliesTo']>
  consequences?: { added: string[]; removed: string[]; from: string[]; to: string[] }
}

export interface VersionDiff {
  title?: Change<string>
  category?: Change<string>
  kind?: Change<string>
  clauses: { added: Clause[]; removed: Clause[]; changed: ClauseChange[] }
  review?: { rrule?: Change<string>; time?: Change<string> }
  note?: Change<string | null>
}

const clausesOf = (c: VersionContent): Clause[] => (isTerms(c) ? c.clauses : [])

/**
 * What changed from one version's content to another's: clauses matched by
 * `key` (added, removed, changed field by field, consequences as added and
 * removed), plus title, category, cadence and note.
 */
export function diffContent(
  from: { kind: string; content: VersionContent },
  to: { kind: string; content: VersionContent }
): VersionDiff {
  const diff: VersionDiff = { clauses: { added: [], removed: [], changed: [] } }
  if (from.kind !== to.kind) diff.kind = { from: from.kind, to: to.kind }
  const a = from.content
  const b = to.content
  if (isTerms(a) && isTerms(b)) {
    if (a.title !== b.title) diff.title = { from: a.title, to: b.title }
    if (a.category !== b.category) diff.category = { from: a.category, to: b.category }
    const review: NonNullable<VersionDiff['review']> = {}
    if (a.review.rrule !== b.review.rrule) review.rrule = { from: a.review.rrule, to: b.review.rrule }
    if (a.review.time !== b.review.time) review.time = { from: a.review.time, to: b.review.time }
    if (Object.keys(review).length > 0) diff.review = review
  }
  if (a.note !== b.note) diff.note = { from: a.note, to: b.note }
  const before = new Map(clausesOf(a).map((c) => [c.key, c]))
  const after = new Map(clausesOf(b).map((c) => [c.key, c]))
  for (const [key, clause] of after) if (!before.has(key)) diff.clauses.added.push(clause)
  for (const [key, clause] of before) if (!after.has(key)) diff.clauses.removed.push(clause)
  for (const [key, x] of before) {
    const y = after.get(key)
    if (!y) continue
    const change: ClauseChange = { key }
    if (x.text !== y.text) change.text = { from: x.text, to: y.text }
    if (!isEqual(x.appliesTo, y.appliesTo)) change.appliesTo = { from: x.appliesTo, to: y.appliesTo }
    if (!isEqual(x.consequences, y.consequences)) {
      change.consequences = {
        added: y.consequences.filter((c) => !x.consequences.includes(c)),
        removed: x.consequences.filter((c) => !y.consequences.includes(c)),
        from: x.consequences,
        to: y.consequences
      }
    }
    if (Object.keys(change).length > 1) diff.clauses.changed.push(change)
  }
  return diff
}
