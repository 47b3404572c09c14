import type { FastifyReply, FastifyRequest } from 'fastify'
import { DomainError } from '../errors.ts'
import { ProblemError } from './problem-catalog.ts'

/**
 * Strong ETags for mutable resources, derived from the row's version counter.
 * Mutations require `If-Match`. The header is read lazily: the service checks
 * it inside its transaction, after tenancy (a stranger gets 404, never a 428
 * that would confirm the resource exists) and against the locked row (a
 * concurrent change cannot slip between check and write).
 */
export const etagOf = (version: number): string => `"v${version}"`

export function setEtag(reply: FastifyReply, version: number): FastifyReply {
  return reply.header('etag', etagOf(version))
}

export interface Precondition {
  /** Throws 428 when If-Match is missing, 412 unless it names `current` (or is `*`). */
  assert(current: number): void
}

export function preconditionOf(request: FastifyRequest): Precondition {
  const header = request.headers['if-match']
  return {
    assert(current) {
      if (header === undefined || header.trim() === '') {
        throw new DomainError('PRECONDITION_REQUIRED', 'send If-Match with the ETag you last read of this resource')
      }
      if (header.trim() === '*') return
      // Entity tags as RFC 9110 writes them; the value of one of ours unquoted (`v3`) is read as meant. A weak
      // tag (W/"…") is well formed but never matches: If-Match compares strongly.
      const tags = header
        .split(',')
        .map((s) => /^\s*(?:"v([1-9][0-9]{0,9})"|v([1-9][0-9]{0,9})|(W\/)?"[\x21\x23-\x7e]*")\s*$/.exec(s))
      if (tags.some((m) => m === null)) {
        throw new DomainError(
          'VALIDATION_FAILED',
          'If-Match must hold the ETag you read, as sent: e.g. "v3", with its quotes',
          { errors: [{ in: 'header', path: '/if-match', message: 'not an entity tag such as "v3"' }] }
        )
      }
      const versions = tags.map((m) => Number(m![1] ?? m![2] ?? Number.NaN))
      if (!versions.includes(current)) {
        throw new ProblemError(
          'PRECONDITION_FAILED',
          'the resource changed since you read it; GET it again and retry',
          { headers: { etag: etagOf(current) } }
        )
      }
    }
  }
}

/** For use cases that are not HTTP-driven (and tests): any version. */
export const anyVersion: Precondition = { assert() {} }
