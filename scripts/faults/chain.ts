// Reading a partnership's audit log back after a crash and judging it as a third party would: from
// the event list alone (seq gapless, each prevHash the previous hash, each hash recomputed with JCS
// and SHA-256), against the server's own /audit/verify, and against the head seen at the last check.
import { createHash } from 'node:crypto'
import canonicalize from 'canonicalize'
import type { Api } from './client.ts'
import { type Tally, violate } from './tally.ts'
import type { Watched } from './world.ts'

export interface Event {
  seq: number
  partnershipId: string
  type: string
  actorId: string | null
  subject: { type: string; id: string }
  data: Record<string, any>
  at: string
  prevHash: string | null
  hash: string
}

/** Every event of a partnership, oldest first; null when the reader cannot read it (itself a finding). */
export async function loadEvents(api: Api, pid: string, watched: Watched): Promise<Event[] | null> {
  const events: Event[] = []
  for (;;) {
    const page = await api.request('GET', `/v1/partnerships/${pid}/events?after=${events.at(-1)?.seq ?? 0}&limit=100`, {
      token: watched.reader.token
    })
    if (page.status !== 200) return null
    events.push(...(page.json.items as Event[]))
    if (!page.json.nextCursor) return events
  }
}

const hashOf = ({ hash: _hash, ...rest }: Event): string =>
  `sha256:${createHash('sha256').update(canonicalize(rest)!).digest('hex')}`

/** Judges one partnership's chain; returns false (after recording why) when it is broken. */
export async function checkChain(
  api: Api,
  tally: Tally,
  pid: string,
  watched: Watched,
  events: Event[]
): Promise<boolean> {
  if (watched.broken) return false // reported once, when first found
  const broken = (why: string) => {
    watched.broken = true
    violate(tally, 'brokenChains', `partnership ${pid}: ${why}`)
    return false
  }
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!
    if (e.seq !== i + 1) return broken(`seq ${e.seq} where ${i + 1} was expected (a gap)`)
    if (e.prevHash !== (i === 0 ? null : events[i - 1]!.hash))
      return broken(`event ${e.seq}: prevHash is not the previous event's hash`)
    if (hashOf(e) !== e.hash) return broken(`event ${e.seq}: hash does not match its content`)
  }
  if (watched.lastSeq > events.length)
    return broken(`${events.length} events where ${watched.lastSeq} were seen before (history lost)`)
  if (watched.lastSeq > 0 && events[watched.lastSeq - 1]!.hash !== watched.lastHash)
    return broken(`event ${watched.lastSeq} changed since it was seen (history rewritten)`)
  const verify = await api.request('GET', `/v1/partnerships/${pid}/audit/verify`, { token: watched.reader.token })
  if (verify.status !== 200) return broken(`audit/verify answered ${verify.status ?? verify.error}`)
  if (!verify.json.valid) return broken(`audit/verify: ${verify.json.reason} at seq ${verify.json.firstBrokenSeq}`)
  if (verify.json.eventCount < events.length)
    return broken(`audit/verify counted ${verify.json.eventCount} events, the list has ${events.length}`)
  watched.lastSeq = events.length
  watched.lastHash = events.at(-1)?.hash ?? null
  return true
}

/** version.activated must appear once per activated version (SPEC §3.6): counts every extra one. */
export function checkActivations(tally: Tally, pid: string, events: Event[], reported: Set<string>): void {
  const seen = new Map<string, number>()
  for (const e of events) {
    if (e.type !== 'version.activated') continue
    const key = `${e.data.agreementId}#${e.data.number}`
    const n = (seen.get(key) ?? 0) + 1
    seen.set(key, n)
    if (n > 1 && !reported.has(`${key}#${n}`)) {
      reported.add(`${key}#${n}`)
      violate(tally, 'doubleActivations', `partnership ${pid}: version ${key} has ${n} version.activated events`)
    }
  }
}
