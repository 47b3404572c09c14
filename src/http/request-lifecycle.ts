import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config.ts'
import { newWorkContext, runInWorkContext, type WorkContext } from '../db/transaction.ts'
import { DomainError } from '../errors.ts'
import { savedAnswerLost, sendProblem } from './problem.ts'
import { API_SECURITY_HEADERS, isDocsPage, PAGE_SECURITY_HEADERS } from './security-headers.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** The handler timeout's timer, cleared when the response is done. */
    deadline: NodeJS.Timeout | null
    /** What the transaction door knows of this request (abandoned at its deadline, committing). */
    work: WorkContext | null
  }
}

/**
 * What every request goes through from its first hook to its answer, whatever
 * its route: the headers every answer carries, a 503 while the server closes,
 * and the deadline that bounds the handler (REQUEST_TIMEOUT_MS) with the work
 * context the transaction door consults. Returns the header setter, for the
 * answers that skip every hook (router-level errors).
 */
export function addRequestLifecycle(
  app: FastifyInstance,
  config: Pick<Config, 'requestTimeoutMs' | 'shutdownGraceMs' | 'publicUrl'>
): (request: FastifyRequest, reply: FastifyReply) => void {
  // The security headers never vary by request here: two sets computed once (http/security-headers.ts), set from
  // plain objects (running helmet per request rebuilt its middleware every time). Every answer carries one of
  // them, its x-request-id and `no-store` (a route that may be cached says so itself).
  const setStandardHeaders = (request: FastifyRequest, reply: FastifyReply): void => {
    reply
      .headers(isDocsPage(request.url) ? PAGE_SECURITY_HEADERS : API_SECURITY_HEADERS)
      .header('x-request-id', request.id)
      .header('cache-control', 'no-store')
  }
  let closing = false
  app.addHook('preClose', (done) => {
    closing = true
    done()
  })
  app.addHook('onRequest', (request, reply, done) => {
    setStandardHeaders(request, reply)
    if (closing) {
      reply.header('connection', 'close')
      return done(new DomainError('OVERLOADED', 'the service is shutting down; retry shortly'))
    }
    done()
  })

  // Bounds the handler too: a database that accepts and drops connections must give a 503, never a hang.
  // (Fastify's handlerTimeout does the same with an AbortController per request, which it aborts on every
  // request's close, building a DOMException with a stack each time: 2–4 % of a request's CPU. Nothing here
  // reads request.signal.)
  // The answer given at the deadline is true: the request is abandoned, and the transaction door
  // (db/transaction.ts) lets none of its work commit after that. A write already committing is waited for, once.
  // On shutdown, the requests still running get half the grace period (SHUTDOWN_GRACE_MS), so they are finished
  // or honestly abandoned, and the database closed, before it ends: SIGTERM exits 0, never cut short.
  app.decorateRequest('deadline', null)
  app.decorateRequest('work', null)
  const running = new Map<FastifyRequest, () => void>()
  app.addHook('onRequest', (request, reply, done) => {
    const work = newWorkContext()
    request.work = work
    let extended = false
    const expire = (): void => {
      if (reply.sent) return
      if (work.committing > 0 && !extended) {
        extended = true
        request.deadline = setTimeout(expire, config.requestTimeoutMs).unref()
        return
      }
      work.abandoned = true
      if (reply.raw.headersSent) {
        reply.raw.destroy()
        return
      }
      const problem = work.committed
        ? savedAnswerLost()
        : new DomainError('TIMED_OUT', 'the request took too long and was abandoned; retry shortly')
      request.log.warn({ code: problem.code }, 'request abandoned at its deadline')
      // Sent as it is, not through the error handler: the deadline can fire while that handler is already
      // answering this request (a failure under a database outage), and Fastify then falls back to its own
      // non-problem JSON (found by npm run faults).
      sendProblem(config.publicUrl, request, reply, problem)
    }
    request.deadline = setTimeout(expire, config.requestTimeoutMs).unref()
    running.set(request, expire)
    runInWorkContext(work, done)
  })
  app.addHook('onResponse', (request, _reply, done) => {
    clearTimeout(request.deadline ?? undefined)
    running.delete(request)
    done()
  })
  // A client that went away: no answer will be sent, so the request is no longer tracked (its deadline still bounds its work).
  app.addHook('onRequestAbort', (request, done) => {
    running.delete(request)
    done()
  })
  app.addHook('preClose', (done) => {
    const by = Math.min(config.requestTimeoutMs, config.shutdownGraceMs / 2)
    for (const [request, expire] of running) {
      clearTimeout(request.deadline ?? undefined)
      request.deadline = setTimeout(expire, by).unref()
    }
    done()
  })

  return setStandardHeaders
}
