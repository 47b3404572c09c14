/** One Server-Sent Events message as a client parses it (fields joined as the EventSource algorithm does). */
export interface SseMessage {
  id: string | undefined
  event: string | undefined
  data: string
}

import http from 'node:http'

/** A client of a text/event-stream answer, reading it as it comes over a real connection of its own. */
export interface SseClient {
  status: number
  headers: http.IncomingHttpHeaders
  /** Every message with data, in order. */
  messages: SseMessage[]
  /** Comment lines seen (without the leading colon). */
  comments: string[]
  /** Fields with no data (`retry: …`). */
  retries: string[]
  /** Resolves when the server ended the stream (or the connection broke); `at` is when, from performance.now(). */
  ended: Promise<{ at: number }>
  isEnded(): boolean
  /** Resolves once `count` messages arrived; rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<SseMessage[]>
  /** Resolves once `predicate` holds on what arrived; rejects after `timeoutMs`. */
  until(predicate: () => boolean, timeoutMs?: number, what?: string): Promise<void>
  /** The client goes away. */
  close(): void
  /** The body, when the answer was not a stream (a problem). */
  text(): Promise<string>
}

/**
 * Opens `url` as EventSource would (GET, `accept: text/event-stream`) on a connection of its own (no pool: a
 * pooled client keeps spare connections open, which a closing server waits for) and reads it in the background.
 */
export async function openStream(url: string, headers: Record<string, string>): Promise<SseClient> {
  const req = http.get(url, { headers: { accept: 'text/event-stream', ...headers }, agent: false })
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    req.once('response', resolve)
    req.once('error', reject)
  })
  res.setEncoding('utf8')
  const messages: SseMessage[] = []
  const comments: string[] = []
  const retries: string[] = []
  let ended = false
  const waiters = new Set<() => void>()
  const notify = (): void => {
    for (const w of waiters) w()
  }
  const streaming = res.statusCode === 200 && (res.headers['content-type'] ?? '').startsWith('text/event-stream')
  const endedPromise = (async () => {
    if (!streaming) return { at: performance.now() }
    let buffer = ''
    try {
      for await (const value of res as AsyncIterable<string>) {
        buffer += value
        let cut = buffer.indexOf('\n\n')
        while (cut >= 0) {
          const block = buffer.slice(0, cut)
          buffer = buffer.slice(cut + 2)
          const message: SseMessage = { id: undefined, event: undefined, data: '' }
          const data: string[] = []
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim())
            else {
              const colon = line.indexOf(':')
              const field = colon < 0 ? line : line.slice(0, colon)
              const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
              if (field === 'id') message.id = value
              else if (field === 'event') message.event = value
              else if (field === 'data') data.push(value)
              else if (field === 'retry') retries.push(value)
            }
          }
          if (data.length > 0) messages.push({ ...message, data: data.join('\n') })
          cut = buffer.indexOf('\n\n')
        }
        notify()
      }
    } catch {
      // aborted by the client, or the connection broke
    }
    ended = true
    const at = performance.now()
    notify()
    return { at }
  })()

  const until = (predicate: () => boolean, timeoutMs = 5000, what = 'the stream'): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (predicate()) {
          clearTimeout(timer)
          waiters.delete(check)
          resolve()
        } else if (ended) {
          clearTimeout(timer)
          waiters.delete(check)
          reject(new Error(`${what}: the stream ended first (${messages.length} messages)`))
        }
      }
      const timer = setTimeout(() => {
        waiters.delete(check)
        reject(new Error(`${what}: not within ${timeoutMs} ms (${messages.length} messages)`))
      }, timeoutMs)
      waiters.add(check)
      check()
    })

  return {
    status: res.statusCode ?? 0,
    headers: res.headers,
    messages,
    comments,
    retries,
    ended: endedPromise,
    isEnded: () => ended,
    async waitFor(count, timeoutMs = 5000) {
      await until(() => messages.length >= count, timeoutMs, `${count} messages`)
      return messages.slice(0, count)
    },
    until,
    close: () => req.destroy(),
    async text() {
      let body = ''
      for await (const chunk of res as AsyncIterable<string>) body += chunk
      return body
    }
  }
}
