import type { ServerResponse } from 'node:http'

/**
 * A Server-Sent Events response (headers already written) as the sink the live log writes to: whole
 * messages, backpressure through drained(), and one close callback whoever ends it (the stream, the client,
 * shutdown).
 */
export function eventStreamSink(res: ServerResponse): {
  write(chunk: string): boolean
  drained(): Promise<void>
  end(): void
  onClose(fn: () => void): void
} {
  return {
    write: (chunk) => (res.writableEnded || res.destroyed ? true : res.write(chunk)),
    drained: () =>
      new Promise<void>((resolve) => {
        if (res.writableEnded || res.destroyed || !res.writableNeedDrain) return resolve()
        const done = (): void => {
          res.off('drain', done)
          res.off('close', done)
          resolve()
        }
        res.on('drain', done)
        res.on('close', done)
      }),
    end: () => {
      if (!res.writableEnded) res.end()
    },
    onClose: (fn) => {
      if (res.destroyed || res.closed) return fn()
      res.once('close', fn)
    }
  }
}
