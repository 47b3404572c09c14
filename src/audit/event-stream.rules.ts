// The Server-Sent Events framing of the live log (https://html.spec.whatwg.org/multipage/server-sent-events.html).

/** How long a client waits before reconnecting (EventSource's `retry`), sent when the stream opens. */
export const RECONNECT_MS = 1000

/** The first thing a stream sends: the reconnection delay (no event), so the client sees it open at once. */
export const STREAM_OPENING = `retry: ${RECONNECT_MS}\n\n`

/** A comment line: clients ignore it, proxies and load balancers see the connection alive. */
export const HEARTBEAT = ': heartbeat\n\n'

/**
 * One event as an SSE message: `id` its seq (what `Last-Event-ID` sends back), `event` its type, `data` its
 * JSON exactly as GET …/events shows it. JSON text has no line break outside strings (where it is escaped), but
 * each line gets its own `data:` all the same, which a client joins back with `\n`.
 */
export function eventMessage(event: { seq: number; type: string; json: string }): string {
  const data = event.json
    .split(/\r\n|\r|\n/)
    .map((line) => `data: ${line}\n`)
    .join('')
  return `id: ${event.seq}\nevent: ${event.type.replace(/[\r\n]/g, '')}\n${data}\n`
}

/** Where a stream resumes: after `Last-Event-ID` (what a reconnecting EventSource sends), else `?after=`, else the start. */
export function resumeAfter(lastEventId: number | undefined, after: number | undefined): number {
  return lastEventId ?? after ?? 0
}
